// Plays an HLS or DASH URL in headless Chromium with hls.js, Shaka Player or dash.js and
// reports what a viewer would see.
// Usage: node play.mjs hls|shaka|dashjs|native URL [SECONDS] (native: the URL is the
// <video> element's own src, a progressive file, with no player library)
// Exit 0 when playback reached SECONDS of media with no fatal player error and no media the
// player could not parse or decrypt (hls.js reports those as non-fatal and skips them); the
// last stdout line is a JSON summary either way (duration: what the player says the
// presentation lasts). With CLEARKEY_LICENCE set, the player asks that URL for the keys of
// encrypted media through EME's org.w3.clearkey (W3C ClearKey licence requests).
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const [player, url] = process.argv.slice(2, 4);
const seconds = Number(process.argv[4] ?? 10);
const licence = process.env.CLEARKEY_LICENCE ?? '';
if (!['hls', 'shaka', 'dashjs', 'native'].includes(player) || !url) {
  console.error('usage: node play.mjs hls|shaka|dashjs|native URL [SECONDS]');
  process.exit(2);
}
const scripts = {
  hls: require.resolve('hls.js/dist/hls.min.js'),
  shaka: require.resolve('shaka-player/dist/shaka-player.compiled.js'),
  // The package's `require` export is its UMD build, which defines `window.dashjs`.
  dashjs: require.resolve('dashjs'),
};

const profile = mkdtempSync(join(tmpdir(), 'sunomi-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
    // Extra flags from the test, e.g. --ignore-certificate-errors-spki-list=<CA key hash>
    // to trust a CA the test made (never Playwright's ignoreHTTPSErrors: TLS is judged).
    ...(process.env.CHROMIUM_FLAGS ?? '').split(' ').filter(Boolean),
  ],
});
let result;
try {
  const page = await browser.newPage();
  const console_lines = [];
  page.on('console', (m) => { if (m.type() === 'error') console_lines.push(m.text()); });
  // Refused requests, with what was asked: the console says only "status of 400".
  page.on('response', (r) => {
    if (r.status() >= 400) console_lines.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  // The page lives at the edge's origin: same-origin requests, and a secure context
  // (loopback), which WebCrypto (Shaka's AES-128) requires.
  await page.goto(new URL('/', url).href);
  await page.setContent('<!doctype html><video id="v" muted playsinline></video>');
  if (scripts[player]) await page.addScriptTag({ path: scripts[player] });
  result = await page.evaluate(({ player, url, seconds, licence }) => new Promise((resolve) => {
    const video = document.getElementById('v');
    const CONTENT_ERRORS = [
      'fragParsingError', 'fragDecryptError', 'bufferAppendError', 'bufferAddCodecError',
      'manifestParsingError', 'levelParsingError', 'audioTrackLoadError',
    ];
    const errors = [];
    let levels = 0; let audioTracks = 0; let subtitleTracks = 0;
    let done = false;
    const finish = (ok, reason) => {
      if (done) return;
      done = true;
      // The protocols the page's requests went over (h2, http/1.1), as the browser saw them.
      const protocols = Array.from(new Set(performance.getEntriesByType('resource')
        .map((e) => e.nextHopProtocol).filter(Boolean)));
      resolve({
        player, ok, reason, currentTime: video.currentTime, duration: video.duration, protocols,
        width: video.videoWidth, height: video.videoHeight,
        levels, audioTracks, subtitleTracks,
        textTracks: Array.from(video.textTracks).map((t) => t.language), errors,
      });
    };
    if (player === 'hls') {
      const hls = new Hls({
        enableWorker: false,
        ...(licence ? {
          emeEnabled: true,
          drmSystems: {
            'org.w3.clearkey': {
              licenseUrl: licence,
              // hls.js 1.6 starts a ClearKey session only from init data it is given: the
              // key id the playlist names (KEYFORMAT="org.w3.clearkey"), as W3C "keyids".
              generateRequest: (type, data, context) => {
                const kid = btoa(String.fromCharCode(...context.decryptdata.keyId))
                  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
                return {
                  initDataType: 'keyids',
                  initData: new TextEncoder().encode(JSON.stringify({ kids: [kid] })).buffer,
                };
              },
            },
          },
        } : {}),
      });
      hls.on(Hls.Events.ERROR, (_, d) => {
        const why = d.error ? `: ${d.error.message || d.error}` : (d.reason ? `: ${d.reason}` : '');
        const where = d.frag ? ` (${d.frag.type} sn ${d.frag.sn})` : '';
        errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}${where}${why}`);
        if (d.fatal) finish(false, 'fatal hls.js error');
        // Media the player could not use is a failure even when hls.js skips past it;
        // stalls, holes and retried loads are recoverable and only reported.
        else if (CONTENT_ERRORS.includes(d.details)) finish(false, `hls.js could not use the media: ${d.details}`);
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        levels = hls.levels.length;
        audioTracks = hls.audioTracks.length;
        subtitleTracks = hls.subtitleTracks.length;
        video.play().catch((e) => errors.push(`play(): ${e}`));
      });
      hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, () => { audioTracks = hls.audioTracks.length; });
      hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => { subtitleTracks = hls.subtitleTracks.length; });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (player === 'native') {
      video.addEventListener('loadedmetadata', () => { levels = 1; });
      video.src = url;
      video.play().catch((e) => errors.push(`play(): ${e}`));
    } else if (player === 'dashjs') {
      const p = dashjs.MediaPlayer().create();
      const events = dashjs.MediaPlayer.events;
      p.on(events.ERROR, (e) => {
        const err = e.error || {};
        errors.push(`dash.js ${err.code ?? ''} ${err.message ?? JSON.stringify(e)}`);
        finish(false, 'dash.js error');
      });
      p.on(events.PLAYBACK_ERROR, (e) => errors.push(`dash.js playback: ${e.error}`));
      p.on(events.STREAM_INITIALIZED, () => {
        levels = p.getRepresentationsByType('video').length;
        audioTracks = p.getTracksFor('audio').length;
        subtitleTracks = p.getTracksFor('text').length;
      });
      if (licence) p.setProtectionData({ 'org.w3.clearkey': { serverURL: licence } });
      p.initialize(video, url, true);
    } else {
      shaka.polyfill.installAll();
      const p = new shaka.Player();
      p.addEventListener('error', (e) => {
        const d = e.detail;
        errors.push(`shaka ${d.code} (severity ${d.severity})`);
        if (d.severity === shaka.util.Error.Severity.CRITICAL) finish(false, 'critical Shaka error');
      });
      if (licence) p.configure({ drm: { servers: { 'org.w3.clearkey': licence } } });
      p.attach(video)
        .then(() => p.load(url))
        .then(() => {
          const tracks = p.getVariantTracks();
          levels = new Set(tracks.map((t) => t.height)).size;
          audioTracks = new Set(tracks.map((t) => t.audioId).filter((a) => a != null)).size;
          subtitleTracks = p.getTextTracks().length;
          return video.play();
        })
        .catch((e) => {
          errors.push(`shaka load: ${e && e.code ? e.code : e}`);
          finish(false, 'Shaka could not load the presentation');
        });
    }
    const started = Date.now();
    const timer = setInterval(() => {
      if (video.error) {
        clearInterval(timer);
        errors.push(`MEDIA_ERR ${video.error.code}: ${video.error.message}`);
        finish(false, 'the media element failed');
      } else if (video.currentTime >= seconds) {
        clearInterval(timer);
        finish(true, 'played');
      } else if (Date.now() - started > (seconds + 50) * 1000) {
        clearInterval(timer);
        finish(false, 'timed out before reaching the target time');
      }
    }, 200);
  }), { player, url, seconds, licence });
  if (!result.ok) result.console = console_lines.slice(-10);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
