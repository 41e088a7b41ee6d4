// Sunomi's web app: the little the server-rendered pages need to be live. Forms that call
// the JSON API, signing out, the resumable upload (tus-js-client, with an upload-only token;
// a reload resumes the same upload), the player (hls.js), and status that changes by itself.
// Unsafe requests carry the session's CSRF token (from <meta name="csrf-token">).

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';

async function api(method, path, body) {
  const headers = { 'content-type': 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrf();
  const resp = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const err = new Error(data?.detail ?? `The server answered ${resp.status}.`);
    err.problem = data;
    throw err;
  }
  return data;
}

function showError(form, message) {
  const box = form.querySelector('.error');
  if (!box) return;
  box.textContent = message;
  box.hidden = !message;
}

// Forms with data-api post their fields as JSON, then go to data-next.
for (const form of document.querySelectorAll('form[data-api]')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(form, '');
    const body = Object.fromEntries(new FormData(form).entries());
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const answer = await api('POST', form.dataset.api, body);
      if (answer?.user?.status === 'pending') {
        showError(form, 'Thanks! An administrator approves new accounts; you can sign in once they have.');
        return;
      }
      window.location.assign(form.dataset.next || '/');
    } catch (e) {
      showError(form, e.message);
      form.dispatchEvent(new CustomEvent('sunomi:problem', { detail: e.problem }));
    } finally {
      button.disabled = false;
    }
  });
}

for (const button of document.querySelectorAll('[data-signout]')) {
  button.addEventListener('click', async () => {
    try { await api('POST', '/api/v1/auth/signout'); } finally { window.location.assign('/'); }
  });
}

// Where a video stands, in words.
const STATUS = {
  waiting_upload: 'Waiting for the file', uploaded: 'Uploaded', validating: 'Checking the file',
  transcoding: 'Transcoding', analyzing: 'Captions and moderation', ready: 'Ready',
  blocked: 'Blocked by moderation', in_review: 'Held for review', errored: 'Failed',
};
const FINAL = new Set(['ready', 'blocked', 'in_review', 'errored']);

// Polls a video until it is final, reporting each state to `report`.
async function follow(id, report) {
  for (;;) {
    let video;
    try { video = await api('GET', `/api/v1/videos/${encodeURIComponent(id)}`); } catch { video = null; }
    if (video) {
      report(video);
      if (FINAL.has(video.status)) return video;
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
}

function describe(video) {
  const words = STATUS[video.status] ?? video.status;
  if (video.status !== 'errored') return words;
  return `${words}: ${video.error?.reason ?? 'the file could not be processed.'}`;
}

// A watch page whose video is not ready yet reloads once it is.
const pending = document.querySelector('.player.pending .status[data-video]');
if (pending) {
  follow(pending.dataset.video, (v) => { pending.textContent = describe(v); })
    .then((v) => { if (v.status === 'ready') window.location.reload(); });
}

// The player: started at once, or once the viewer confirms a content warning.
const video = document.getElementById('player');
// Views: the page's ticket rides with every media request as CMCD's session id; the edge
// answers with a receipt once it has served the media a view needs, and the page hands the
// receipt to the API once the player has played that long. The server checks both.
const views = { receipt: null, played: 0, last: null, sent: false };
function viewCounting() {
  const ticket = video.dataset.viewTicket;
  if (!ticket) return {};
  video.addEventListener('timeupdate', () => {
    const t = video.currentTime;
    if (views.last !== null && !video.seeking && t > views.last && t - views.last < 2) {
      views.played += t - views.last;
    }
    views.last = t;
    sendView();
  });
  video.addEventListener('seeking', () => { views.last = null; });
  return {
    cmcd: { sessionId: ticket, useHeaders: false, includeKeys: ['sid'] },
    xhrSetup: (xhr) => {
      xhr.addEventListener('load', () => {
        const receipt = xhr.getResponseHeader('Sunomi-View-Receipt');
        if (receipt && !views.receipt) { views.receipt = receipt; sendView(); }
      });
    },
  };
}
async function sendView() {
  if (views.sent || !views.receipt || views.played < Number(video.dataset.viewNeed)) return;
  views.sent = true;
  try {
    const answer = await api('POST', `/api/v1/videos/${encodeURIComponent(video.dataset.video)}/views`,
      { receipt: views.receipt });
    const shown = document.querySelector('[data-views]');
    if (shown) shown.textContent = `${answer.views} view${answer.views === 1 ? '' : 's'}`;
  } catch (e) {
    // Too early by the edge's clock: try again a little later.
    if (e.problem?.code === 'too_early') setTimeout(() => { views.sent = false; sendView(); }, 2000);
  }
}

function startPlayer() {
  const src = video.dataset.src;
  if (window.Hls?.isSupported()) {
    const hls = new window.Hls({ enableWorker: true, ...viewCounting() });
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(window.Hls.Events.ERROR, (_, data) => {
      if (data.fatal) console.error('playback failed', data.type, data.details);
    });
    hls.on(window.Hls.Events.MANIFEST_PARSED, () => playerMenus(hls));
    window.sunomiPlayer = hls;
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = src;
  }
}
const gate = document.getElementById('warning');
if (video?.dataset.src && gate) {
  gate.querySelector('[data-confirm-warning]').addEventListener('click', () => {
    gate.hidden = true;
    video.closest('.player').hidden = false;
    startPlayer();
    video.focus();
  });
} else if (video?.dataset.src) {
  startPlayer();
}

// The upload page.
const uploadForm = document.getElementById('upload');
if (uploadForm) {
  const progress = document.getElementById('progress');
  const bar = progress.querySelector('progress');
  const sent = progress.querySelector('.sent');
  const pause = document.getElementById('pause');
  const processing = document.getElementById('processing');
  const state = processing.querySelector('.status');
  const watchLink = processing.querySelector('.watch-link');
  const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
  // Uploads in progress by file (name, size, last modified), so a reload resumes the same one.
  const key = (f) => `sunomi-upload:${f.name}:${f.size}:${f.lastModified}`;

  uploadForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(uploadForm, '');
    const file = uploadForm.file.files[0];
    if (!file) { showError(uploadForm, 'Choose a video file.'); return; }
    let started = JSON.parse(localStorage.getItem(key(file)) ?? 'null');
    if (!started) {
      try {
        started = await api('POST', '/api/v1/videos', {
          title: uploadForm.title.value, description: uploadForm.description.value,
          visibility: uploadForm.visibility.value, size: file.size,
          language: uploadForm.language.value || undefined,
        });
      } catch (e) { showError(uploadForm, e.message); return; }
      localStorage.setItem(key(file), JSON.stringify(started));
    }
    uploadForm.hidden = true;
    progress.hidden = false;
    const begun = performance.now();
    let from = null;
    const upload = new window.tus.Upload(file, {
      uploadUrl: started.upload.url,
      headers: { authorization: `Bearer ${started.upload.token}` },
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      removeFingerprintOnSuccess: true,
      onProgress(done, total) {
        if (from === null) from = done;
        bar.value = total ? (100 * done) / total : 0;
        const secs = (performance.now() - begun) / 1000;
        const rate = secs > 0 ? (done - from) / secs : 0;
        const left = rate > 0 ? Math.ceil((total - done) / rate) : null;
        sent.textContent = `${mb(done)} of ${mb(total)}` +
          (rate > 0 ? ` · ${mb(rate)}/s · ${left} s left` : '');
      },
      onError(e) {
        const body = e.originalResponse?.getBody?.();
        let reason = e.message;
        try { reason = JSON.parse(body).detail ?? reason; } catch { /* not JSON */ }
        sent.textContent = `The upload stopped: ${reason}`;
      },
      onSuccess() {
        localStorage.removeItem(key(file));
        progress.hidden = true;
        processing.hidden = false;
        follow(started.video.id, (v) => { state.textContent = describe(v); }).then((v) => {
          watchLink.innerHTML = '';
          const a = document.createElement('a');
          // A ready video is watched; one that failed or waits for a person is in the studio.
          a.href = v.status === 'ready' ? `/watch/${encodeURIComponent(v.id)}` : '/studio';
          a.textContent = v.status === 'ready' ? 'Watch it' : 'Your studio';
          watchLink.append(a);
          watchLink.hidden = false;
        });
      },
    });
    let paused = false;
    pause.onclick = () => {
      paused = !paused;
      if (paused) { upload.abort(); pause.textContent = 'Resume'; } else { upload.start(); pause.textContent = 'Pause'; }
    };
    upload.start();
  });
}

// The interactive transcript: cues from the edge's WebVTT as buttons; the one being spoken
// is highlighted and kept in view; a click (or Enter) seeks there; the search box keeps the
// cues that contain every word and highlights them.
const transcript = document.getElementById('transcript');
if (transcript && video) {
  const list = transcript.querySelector('.cues');
  const search = transcript.querySelector('#transcript-search');
  const matches = transcript.querySelector('.matches');
  const seconds = (t) => {
    const parts = t.trim().split(':').map(Number);
    return parts.reduce((acc, p) => acc * 60 + p, 0);
  };
  const clockOf = (s) => {
    const m = Math.floor(s / 60); const r = Math.floor(s % 60);
    return `${m}:${String(r).padStart(2, '0')}`;
  };
  const parse = (text) => {
    const cues = [];
    for (const block of text.replace(/\r/g, '').split(/\n\n+/)) {
      const lines = block.split('\n');
      const at = lines.findIndex((l) => l.includes('-->'));
      if (at < 0) continue;
      const [from, to] = lines[at].split('-->').map((s) => s.trim().split(' ')[0]);
      const words = lines.slice(at + 1).join(' ').replace(/<[^>]*>/g, '').trim();
      if (words) cues.push({ start: seconds(from), end: seconds(to), text: words });
    }
    return cues;
  };
  let items = [];
  let current = null;
  const show = (cue, item) => {
    if (current === item) return;
    current?.classList.remove('now');
    current?.removeAttribute('aria-current');
    current = item;
    if (!item) return;
    item.classList.add('now');
    item.setAttribute('aria-current', 'true');
    // Keep it in view inside the panel without moving the page.
    const top = item.offsetTop - list.offsetTop;
    if (top < list.scrollTop || top > list.scrollTop + list.clientHeight - item.offsetHeight) {
      list.scrollTop = Math.max(0, top - list.clientHeight / 3);
    }
  };
  fetch(transcript.dataset.vtt)
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`captions: ${r.status}`))))
    .then((text) => {
      items = parse(text).map((cue) => {
        const li = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'cue';
        const time = document.createElement('span');
        time.className = 'at';
        time.textContent = clockOf(cue.start);
        const words = document.createElement('span');
        words.className = 'words';
        words.textContent = cue.text;
        button.append(time, words);
        button.addEventListener('click', () => {
          video.currentTime = cue.start + 0.01;
          if (video.paused) video.play().catch(() => {});
        });
        li.append(button);
        list.append(li);
        return { cue, li, words };
      });
      video.addEventListener('timeupdate', () => {
        const t = video.currentTime;
        const hit = items.find(({ cue }) => t >= cue.start && t < cue.end);
        show(hit?.cue, hit?.li ?? null);
      });
    })
    .catch(() => { transcript.hidden = true; });
  search.addEventListener('input', () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let n = 0;
    for (const { cue, li, words: span } of items) {
      const hay = cue.text.toLowerCase();
      const hit = words.every((w) => hay.includes(w));
      li.hidden = words.length > 0 && !hit;
      span.textContent = '';
      if (words.length && hit) {
        n += 1;
        // Highlight each word's occurrences with <mark>, as text nodes (no HTML from cues).
        const pattern = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'gi');
        for (const part of cue.text.split(pattern)) {
          if (!part) continue;
          if (words.includes(part.toLowerCase())) {
            const m = document.createElement('mark'); m.textContent = part; span.append(m);
          } else span.append(document.createTextNode(part));
        }
      } else span.textContent = cue.text;
    }
    matches.textContent = words.length ? `${n} ${n === 1 ? 'cue matches' : 'cues match'}` : '';
  });
}

// Like and Subscribe: toggles whose pressed state (aria-pressed) and counts follow the API.
const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
for (const button of document.querySelectorAll('[data-like]')) {
  button.addEventListener('click', async () => {
    const on = button.getAttribute('aria-pressed') !== 'true';
    try {
      const r = await api(on ? 'PUT' : 'DELETE', `/api/v1/videos/${encodeURIComponent(button.dataset.like)}/like`);
      button.setAttribute('aria-pressed', String(r.liked));
      document.querySelector('[data-likes]').textContent = plural(r.likes, 'like');
    } catch (e) { console.error(e); }
  });
}
for (const button of document.querySelectorAll('[data-subscribe]')) {
  button.addEventListener('click', async () => {
    const on = button.getAttribute('aria-pressed') !== 'true';
    try {
      const r = await api(on ? 'PUT' : 'DELETE', `/api/v1/channels/${encodeURIComponent(button.dataset.subscribe)}/subscription`);
      button.setAttribute('aria-pressed', String(r.subscribed));
      document.querySelector('[data-subscribers]').textContent = plural(r.subscribers, 'subscriber');
    } catch (e) { console.error(e); }
  });
}

// Comments: write one, reply to one, edit or delete one's own (moderators delete any). The
// page is read again after each change, so what shows is what was stored.
const commentForm = document.querySelector('form.comment-form');
if (commentForm) {
  const videoId = commentForm.dataset.video;
  const post = async (form, parent) => {
    showError(form, '');
    const body = form.querySelector('textarea').value;
    try {
      await api('POST', `/api/v1/videos/${encodeURIComponent(videoId)}/comments`,
        parent ? { body, parent_id: parent } : { body });
      window.location.reload();
    } catch (e) { showError(form, e.message); }
  };
  commentForm.addEventListener('submit', (event) => { event.preventDefault(); post(commentForm, null); });
  for (const article of document.querySelectorAll('[data-comment]')) {
    const id = article.dataset.comment;
    article.querySelector('[data-delete]')?.addEventListener('click', async () => {
      try { await api('DELETE', `/api/v1/comments/${encodeURIComponent(id)}`); window.location.reload(); } catch (e) { console.error(e); }
    });
    article.querySelector('[data-reply]')?.addEventListener('click', () => {
      if (article.querySelector('form')) return;
      const form = document.createElement('form');
      form.className = 'form';
      const fieldId = `reply-${id}`;
      form.innerHTML = `<label for="${fieldId}">Reply</label><textarea id="${fieldId}" rows="2" maxlength="2000"></textarea>` +
        '<p class="error" role="alert" hidden></p><button type="submit">Send reply</button>';
      form.addEventListener('submit', (event) => { event.preventDefault(); post(form, id); });
      article.append(form);
      form.querySelector('textarea').focus();
    });
    article.querySelector('[data-edit]')?.addEventListener('click', () => {
      if (article.querySelector('form')) return;
      const form = document.createElement('form');
      form.className = 'form';
      const fieldId = `edit-${id}`;
      form.innerHTML = `<label for="${fieldId}">Edit comment</label><textarea id="${fieldId}" rows="2" maxlength="2000"></textarea>` +
        '<p class="error" role="alert" hidden></p><button type="submit">Save</button>';
      form.querySelector('textarea').value = article.querySelector('.body')?.textContent ?? '';
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        try {
          await api('PATCH', `/api/v1/comments/${encodeURIComponent(id)}`, { body: form.querySelector('textarea').value });
          window.location.reload();
        } catch (e) { showError(form, e.message); }
      });
      article.append(form);
      form.querySelector('textarea').focus();
    });
  }
}

// `?t=SECONDS` on a watch page starts there (search results link to the moment a word is said).
if (video) {
  const t = Number(new URLSearchParams(window.location.search).get('t'));
  if (Number.isFinite(t) && t > 0) {
    const seek = () => { video.currentTime = t; };
    if (video.readyState >= 1) seek(); else video.addEventListener('loadedmetadata', seek, { once: true });
  }
}

// Says `words` in a form's status line (for a moment).
function saved(form, words) {
  const line = form.querySelector('.saved');
  if (line) line.textContent = words;
}

// The studio's edit page: save the video's details and content warning; delete it.
const editForm = document.getElementById('edit-video');
if (editForm) {
  editForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(editForm, '');
    saved(editForm, '');
    const flags = [...editForm.querySelectorAll('input[name="flags"]:checked')].map((c) => c.value);
    try {
      await api('PATCH', `/api/v1/videos/${encodeURIComponent(editForm.dataset.video)}`, {
        title: editForm.title.value, description: editForm.description.value,
        visibility: editForm.visibility.value, flags,
        warning_summary: editForm.warning_summary.value,
      });
      saved(editForm, 'Saved.');
    } catch (e) { showError(editForm, e.message); }
  });
}
for (const button of document.querySelectorAll('[data-delete-video]')) {
  button.addEventListener('click', async () => {
    if (!window.confirm('Delete this video for good?')) return;
    try {
      await api('DELETE', `/api/v1/videos/${encodeURIComponent(button.dataset.deleteVideo)}`);
      window.location.assign('/studio');
    } catch (e) { window.alert(e.message); }
  });
}

// Settings: what I am warned about.
const policyForm = document.getElementById('content-policy');
if (policyForm) {
  policyForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(policyForm, '');
    saved(policyForm, '');
    const flags = {};
    for (const select of policyForm.querySelectorAll('select[name^="flag-"]')) {
      if (select.value) flags[select.name.slice('flag-'.length)] = select.value;
    }
    try {
      await api('PUT', '/api/v1/me/content-policy', { default: policyForm.default.value, flags });
      saved(policyForm, 'Saved.');
    } catch (e) { showError(policyForm, e.message); }
  });
}

// Suggestions while typing in the search box: titles that match every word typed so far.
const searchBox = document.getElementById('q');
const suggestionList = document.getElementById('search-suggestions');
if (searchBox && suggestionList) {
  let timer;
  let asked = '';
  searchBox.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const typed = searchBox.value.trim();
      if (typed.length < 2 || typed === asked) return;
      asked = typed;
      try {
        const found = await api('GET', `/api/v1/search/suggestions?q=${encodeURIComponent(typed)}`);
        if (searchBox.value.trim() !== typed) return;
        suggestionList.replaceChildren(...found.data.map((title) => {
          const option = document.createElement('option');
          option.value = title;
          return option;
        }));
      } catch { /* suggestions are a convenience; searching still works */ }
    }, 150);
  });
}

// Reporting a video: the form opens at the moment playing, and says when it is sent.
const reportButton = document.querySelector('[data-report]');
const reportForm = document.getElementById('report-form');
if (reportButton && reportForm) {
  reportButton.addEventListener('click', () => {
    const open = reportForm.hidden;
    reportForm.hidden = !open;
    reportButton.setAttribute('aria-expanded', String(open));
    if (open) {
      const player = document.getElementById('player');
      const at = Math.floor(player?.currentTime ?? 0);
      const end = player && Number.isFinite(player.duration) ? Math.min(at + 5, Math.floor(player.duration)) : at + 5;
      reportForm.start_secs.value = String(at);
      reportForm.end_secs.value = String(Math.max(at, end));
      reportForm.reason.focus();
    }
  });
  reportForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(reportForm, '');
    const number = (input) => (input.value === '' ? undefined : Number(input.value));
    try {
      await api('POST', `/api/v1/videos/${encodeURIComponent(reportForm.dataset.video)}/reports`, {
        reason: reportForm.reason.value, details: reportForm.details.value,
        start_secs: number(reportForm.start_secs), end_secs: number(reportForm.end_secs),
      });
      saved(reportForm, 'Thank you. A moderator will look at it; your reports and what came of them are under Settings.');
      reportForm.querySelector('button[type="submit"]').disabled = true;
    } catch (e) { showError(reportForm, e.message); }
  });
}

// The moderators' pages: a video's decision, registrations, and links that seek the player.
const decisionForm = document.getElementById('decision');
if (decisionForm) {
  decisionForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(decisionForm, '');
    const decision = decisionForm.querySelector('input[name="decision"]:checked')?.value;
    if (!decision) { showError(decisionForm, 'Choose what happens to the video.'); return; }
    const flags = decision === 'warn'
      ? [...decisionForm.querySelectorAll('input[name="flags"]:checked')].map((c) => c.value) : [];
    try {
      await api('POST', `/api/v1/moderation/videos/${encodeURIComponent(decisionForm.dataset.video)}`, {
        decision, flags, reason: decisionForm.reason.value,
      });
      window.location.assign('/moderation');
    } catch (e) { showError(decisionForm, e.message); }
  });
}
for (const form of document.querySelectorAll('form[data-registration]')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(form, '');
    try {
      await api('POST', `/api/v1/moderation/registrations/${encodeURIComponent(form.dataset.registration)}`, {
        decision: event.submitter?.value ?? 'approve', reason: form.reason.value,
      });
      form.closest('li').remove();
    } catch (e) { showError(form, e.message); }
  });
}
for (const link of document.querySelectorAll('a[data-seek]')) {
  link.addEventListener('click', (event) => {
    const player = document.getElementById('player');
    if (!player) return;
    event.preventDefault();
    player.currentTime = Number(link.dataset.seek);
    player.focus();
  });
}

// Sign-in's second step: the code field appears when the account needs it.
const signInForm = document.querySelector('form[data-api="/api/v1/auth/signin"]');
if (signInForm) {
  signInForm.addEventListener('sunomi:problem', (event) => {
    if (event.detail?.code !== 'two_factor_required') return;
    const field = signInForm.querySelector('.two-factor');
    field.hidden = false;
    field.querySelector('input').focus();
  });
}

// Settings: two-factor sign-in.
const beginTwoFactor = document.getElementById('two-factor-begin');
const twoFactorOn = document.getElementById('two-factor-on');
if (beginTwoFactor && twoFactorOn) {
  beginTwoFactor.addEventListener('click', async () => {
    try {
      const setup = await api('POST', '/api/v1/me/two-factor');
      twoFactorOn.querySelector('.secret').textContent = setup.secret;
      twoFactorOn.querySelector('.otpauth').href = setup.otpauth_url;
      twoFactorOn.hidden = false;
      beginTwoFactor.hidden = true;
      twoFactorOn.code.focus();
    } catch (e) { window.alert(e.message); }
  });
  twoFactorOn.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(twoFactorOn, '');
    try {
      const done = await api('PUT', '/api/v1/me/two-factor', { code: twoFactorOn.code.value });
      const list = document.querySelector('#recovery .recovery-codes');
      list.replaceChildren(...done.recovery_codes.map((c) => {
        const li = document.createElement('li');
        li.textContent = c;
        return li;
      }));
      twoFactorOn.hidden = true;
      document.querySelector('.tf-state').textContent = 'On: signing in needs a code from your authenticator app.';
      document.getElementById('recovery').hidden = false;
    } catch (e) { showError(twoFactorOn, e.message); }
  });
}
const twoFactorOff = document.getElementById('two-factor-off');
if (twoFactorOff) {
  twoFactorOff.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(twoFactorOff, '');
    try {
      await api('POST', '/api/v1/me/two-factor/disable', {
        password: twoFactorOff.password.value, code: twoFactorOff.code.value,
      });
      window.location.reload();
    } catch (e) { showError(twoFactorOff, e.message); }
  });
}

document.getElementById('content-policy-reset')?.addEventListener('click', async () => {
  try {
    await api('DELETE', '/api/v1/me/content-policy');
    window.location.reload();
  } catch (e) { showError(policyForm, e.message); }
});

// Settings: name, password, deleting the account.
const renameForm = document.getElementById('rename');
renameForm?.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError(renameForm, '');
  try {
    const me = await api('PATCH', '/api/v1/me', { display_name: renameForm.display_name.value });
    saved(renameForm, `Saved: people now see “${me.display_name}”.`);
  } catch (e) { showError(renameForm, e.message); }
});
// My channel's picture (the file as it is: the server decodes it) and description.
const pictureForm = document.getElementById('picture');
pictureForm?.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError(pictureForm, '');
  const file = pictureForm.file.files[0];
  if (!file) { showError(pictureForm, 'Choose a picture.'); return; }
  const resp = await fetch('/api/v1/me/picture', {
    method: 'PUT', credentials: 'same-origin', body: file,
    headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': csrf() },
  });
  const answer = await resp.json().catch(() => null);
  if (!resp.ok) { showError(pictureForm, answer?.detail ?? `The server answered ${resp.status}.`); return; }
  saved(pictureForm, 'Picture saved.');
  setTimeout(() => window.location.reload(), 800);
});
pictureForm?.querySelector('[data-remove-picture]')?.addEventListener('click', async () => {
  try {
    await api('DELETE', '/api/v1/me/picture');
    window.location.reload();
  } catch (e) { showError(pictureForm, e.message); }
});
const aboutForm = document.getElementById('channel-about');
aboutForm?.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError(aboutForm, '');
  try {
    await api('PUT', '/api/v1/me/channel', { description: aboutForm.description.value });
    saved(aboutForm, 'Description saved.');
  } catch (e) { showError(aboutForm, e.message); }
});
const passwordForm = document.getElementById('password-change');
passwordForm?.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError(passwordForm, '');
  try {
    await api('POST', '/api/v1/me/password', {
      current_password: passwordForm.current_password.value,
      new_password: passwordForm.new_password.value,
    });
    passwordForm.reset();
    saved(passwordForm, 'Password changed. You were signed out everywhere else.');
  } catch (e) { showError(passwordForm, e.message); }
});
const deleteForm = document.getElementById('delete-account');
deleteForm?.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError(deleteForm, '');
  if (!window.confirm('Delete your account and all your videos for good?')) return;
  try {
    await api('DELETE', '/api/v1/me', {
      password: deleteForm.password.value, code: deleteForm.code.value || undefined,
    });
    window.location.assign('/');
  } catch (e) { showError(deleteForm, e.message); }
});

// The notifications link says how many are unread (checked once a minute).
const bell = document.querySelector('[data-notifications]');
async function unread() {
  try {
    const found = await api('GET', '/api/v1/me/notifications');
    bell.textContent = found.unread > 0 ? `Notifications (${found.unread})` : 'Notifications';
    bell.setAttribute('aria-label', found.unread > 0 ? `Notifications, ${found.unread} unread` : 'Notifications');
  } catch { /* the link still works */ }
}
if (bell && !window.location.pathname.startsWith('/notifications')) {
  unread();
  setInterval(unread, 60_000);
}

// Share: the link and the embed code, absolute.
const shareLink = document.getElementById('share-link');
if (shareLink) shareLink.value = new URL(shareLink.dataset.path, window.location.origin).href;
const shareEmbed = document.getElementById('share-embed');
if (shareEmbed) {
  const src = new URL(shareEmbed.dataset.embed, window.location.origin).href;
  shareEmbed.value = `<iframe src="${src}" width="640" height="400" allow="fullscreen; picture-in-picture" allowfullscreen title="Sunomi video"></iframe>`;
}
for (const field of [shareLink, shareEmbed]) field?.addEventListener('focus', () => field.select());

// The player's menus: quality (hls.js levels; Auto lets it choose), speed, captions (the
// auto-generated ones say so); and keys that work anywhere on the page but in a field.
function playerMenus(hls) {
  const menus = document.querySelector('.player-menus');
  if (!menus) return;
  const quality = document.getElementById('quality');
  hls.levels
    .map((level, i) => ({ i, height: level.height, bitrate: level.bitrate }))
    .sort((a, b) => b.height - a.height || b.bitrate - a.bitrate)
    .forEach(({ i, height, bitrate }) => {
      const option = document.createElement('option');
      option.value = String(i);
      option.textContent = height ? `${height}p` : `${Math.round(bitrate / 1000)} kbit/s`;
      quality.append(option);
    });
  quality.addEventListener('change', () => { hls.currentLevel = Number(quality.value); });
  const speed = document.getElementById('speed');
  speed.addEventListener('change', () => { video.playbackRate = Number(speed.value); });
  const captions = document.getElementById('captions');
  const generated = new Set((video.dataset.generated ?? '').split(' ').filter(Boolean));
  // hls.js lists the subtitle tracks of the playing rendition's group once it knows it.
  const fillCaptions = () => {
    const off = captions.querySelector('option[value="-1"]');
    captions.replaceChildren(off, ...hls.subtitleTracks.map((track, i) => {
      const option = document.createElement('option');
      option.value = String(i);
      const name = track.name || track.lang || `Track ${i + 1}`;
      option.textContent = generated.has(track.lang) ? `${name} (auto-generated)` : name;
      return option;
    }));
    captions.value = String(hls.subtitleDisplay ? hls.subtitleTrack : -1);
  };
  fillCaptions();
  hls.on(window.Hls.Events.SUBTITLE_TRACKS_UPDATED, fillCaptions);
  captions.addEventListener('change', () => {
    hls.subtitleTrack = Number(captions.value);
    hls.subtitleDisplay = Number(captions.value) >= 0;
  });
  hls.on(window.Hls.Events.SUBTITLE_TRACK_SWITCH, (_, data) => {
    captions.value = String(hls.subtitleDisplay ? data.id : -1);
  });
  menus.hidden = false;
  document.addEventListener('keydown', (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.closest?.('input, textarea, select, button, [contenteditable]') && target !== video) return;
    const seek = (by) => { video.currentTime = Math.max(0, Math.min(video.duration || Infinity, video.currentTime + by)); };
    switch (event.key) {
      case 'k': case ' ': if (target === video && event.key === ' ') return; video.paused ? video.play() : video.pause(); break;
      case 'j': seek(-10); break;
      case 'l': seek(10); break;
      case 'ArrowLeft': if (target === video) return; seek(-5); break;
      case 'ArrowRight': if (target === video) return; seek(5); break;
      case 'm': video.muted = !video.muted; break;
      case 'f': if (document.fullscreenElement) document.exitFullscreen(); else video.requestFullscreen?.(); break;
      case 'c': {
        const on = !(hls.subtitleDisplay && hls.subtitleTrack >= 0);
        if (on && hls.subtitleTrack < 0 && hls.subtitleTracks.length) hls.subtitleTrack = 0;
        hls.subtitleDisplay = on;
        captions.value = String(on ? hls.subtitleTrack : -1);
        break;
      }
      default: return;
    }
    event.preventDefault();
  });
}

// The admin page: an account's role and status.
for (const form of document.querySelectorAll('form[data-user]')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(form, '');
    saved(form, '');
    try {
      const user = await api('PATCH', `/api/v1/admin/users/${encodeURIComponent(form.dataset.user)}`, {
        role: form.querySelector('[name="role"]').value,
        status: form.querySelector('[name="status"]').value,
        reason: form.querySelector('[name="reason"]').value,
      });
      saved(form, `Saved: ${user.role}, ${user.status}.`);
    } catch (e) { showError(form, e.message); }
  });
}

// The studio's captions: upload (or replace) a WebVTT file, delete a language.
const captionsSection = document.getElementById('captions-section');
if (captionsSection) {
  const video = encodeURIComponent(captionsSection.dataset.video);
  const form = document.getElementById('captions-upload');
  const send = async (method, lang, body) => {
    const resp = await fetch(`/api/v1/videos/${video}/captions/${encodeURIComponent(lang)}`, {
      method, credentials: 'same-origin', body,
      headers: { 'content-type': 'text/vtt', 'x-csrf-token': csrf() },
    });
    if (!resp.ok) {
      const problem = await resp.json().catch(() => null);
      throw new Error(problem?.detail ?? `The server answered ${resp.status}.`);
    }
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(form, '');
    const file = form.file.files[0];
    if (!file) { showError(form, 'Choose a WebVTT file.'); return; }
    try {
      await send('PUT', form.lang.value.trim(), await file.text());
      saved(form, 'Captions saved. Players list them now.');
      setTimeout(() => window.location.reload(), 800);
    } catch (e) { showError(form, e.message); }
  });
  for (const button of captionsSection.querySelectorAll('[data-delete-captions]')) {
    button.addEventListener('click', async () => {
      try {
        await send('DELETE', button.dataset.deleteCaptions);
        window.location.reload();
      } catch (e) { showError(form, e.message); }
    });
  }
}

// The admin page's integrations: API keys, webhook endpoints, signing keys, through their API
// routes (an admin's session opens them). A new secret is shown once, as text.
const ADMIN_LISTS = {
  'api-keys': {
    path: '/api/v1/api-keys',
    label: (k) => `${k.name} (${k.id})${k.revoked_at ? ', revoked' : ''}`,
    removable: (k) => !k.revoked_at,
    remove: 'Revoke',
    body: (form) => ({ name: form.name.value }),
    secret: (made) => made.secret,
  },
  webhooks: {
    path: '/api/v1/webhooks/endpoints',
    label: (e) => `${e.url}${e.source === 'config' ? ' (from the config file)' : ''}`,
    removable: (e) => e.source !== 'config',
    remove: 'Delete',
    body: (form) => ({ url: form.url.value }),
    secret: (made) => made.secret,
  },
  'signing-keys': {
    path: '/api/v1/signing-keys',
    label: (k) => `${k.id} (${k.algorithm})`,
    removable: () => true,
    remove: 'Delete',
    body: () => ({}),
    secret: (made) => made.private_key,
  },
};
for (const section of document.querySelectorAll('[data-admin-list]')) {
  const kind = ADMIN_LISTS[section.dataset.adminList];
  const list = section.querySelector('.admin-items');
  const form = section.querySelector('[data-admin-create]');
  const load = async () => {
    const items = await api('GET', kind.path);
    list.replaceChildren();
    for (const item of items) {
      const li = document.createElement('li');
      li.append(kind.label(item));
      if (kind.removable(item)) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = kind.remove;
        button.setAttribute('aria-label', `${kind.remove} ${kind.label(item)}`);
        button.addEventListener('click', async () => {
          try { await api('DELETE', `${kind.path}/${encodeURIComponent(item.id)}`); await load(); } catch (e) { showError(form, e.message); }
        });
        li.append(' ', button);
      }
      list.append(li);
    }
  };
  load().catch((e) => showError(form, e.message));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(form, '');
    try {
      const made = await api('POST', kind.path, kind.body(form));
      const shown = section.querySelector('.secret-shown');
      shown.querySelector('pre').textContent = kind.secret(made) ?? '';
      shown.hidden = false;
      form.reset();
      await load();
    } catch (e) { showError(form, e.message); }
  });
}
