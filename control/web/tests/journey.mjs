// A person's first visit, driven in headless Chromium the way a person would: by the names
// of links, buttons and fields. Signs up, uploads a real file through the upload page,
// watches its status change by itself until it is ready, plays 5 s of it, signs out. Every
// page visited is checked with axe-core (no serious or critical violation) at desktop and
// phone sizes, and a screenshot of each is kept.
// Usage: node journey.mjs BASE_URL VIDEO_FILE SCREENSHOT_DIR
// Exit 0 on success; the last stdout line is a JSON summary either way.
import { audit as check, launch } from './browser.mjs';

const [base, file, shots, notVideo] = process.argv.slice(2, 6);
if (!base || !file || !shots || !notVideo) {
  console.error('usage: node journey.mjs BASE_URL VIDEO_FILE SCREENSHOT_DIR NOT_A_VIDEO_FILE');
  process.exit(2);
}
const browser = await launch();
const summary = { steps: [], accessibility: [], errors: [] };
const step = (name) => { summary.steps.push(name); };
const audit = async (page, name) => { summary.accessibility.push(...await check(page, shots, name)); };

let ok = false;
try {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => summary.errors.push(String(e)));
  page.setDefaultTimeout(20_000);

  await page.goto(base);
  await audit(page, 'home-signed-out');
  await page.getByRole('link', { name: 'Sign up' }).click();
  await page.waitForURL('**/signup');
  await audit(page, 'signup');
  const email = `ada.${Date.now()}@example.org`;
  await page.getByLabel('Display name').fill('Ada');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('analytical engine');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  step('signed up');

  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Upload' }).click();
  await page.waitForURL('**/upload');
  await audit(page, 'upload');
  await page.getByLabel('Video file').setInputFiles(file);
  await page.getByLabel('Title').fill('A walk in the test pattern');
  await page.getByLabel('Description').fill('Made by FFmpeg for the journey test.');
  await page.getByRole('button', { name: 'Upload' }).click();
  step('upload started');
  // The status changes by itself until the video is ready.
  const status = page.getByRole('status');
  const seen = new Set();
  const deadline = Date.now() + 180_000;
  for (;;) {
    const text = (await status.textContent({ timeout: 180_000 }).catch(() => '')) ?? '';
    if (text) seen.add(text);
    if (text === 'Ready') break;
    if (/Failed|Blocked/.test(text)) throw new Error(`the video ended ${text}`);
    if (Date.now() > deadline) throw new Error(`not ready in time; saw ${[...seen].join(' → ')}`);
    await page.waitForTimeout(300);
  }
  summary.statuses = [...seen];
  step('processed');
  await audit(page, 'upload-done');

  await page.getByRole('link', { name: 'Watch it' }).click();
  await page.waitForURL('**/watch/**');
  const played = await page.evaluate(() => new Promise((resolve) => {
    const v = document.getElementById('player');
    if (!v) { resolve({ error: 'no player' }); return; }
    v.muted = true;
    const started = performance.now();
    const tick = () => {
      if (v.currentTime >= 5) resolve({ currentTime: v.currentTime, width: v.videoWidth });
      else if (performance.now() - started > 60_000) resolve({ error: `stuck at ${v.currentTime}`, readyState: v.readyState });
      else setTimeout(tick, 200);
    };
    v.play().catch((e) => resolve({ error: String(e) }));
    tick();
  }));
  summary.played = played;
  if (played.error) throw new Error(`playback: ${played.error}`);
  step('played 5 s');
  await audit(page, 'watch');

  await page.getByRole('link', { name: 'Studio' }).click();
  await page.waitForURL('**/studio');
  await page.getByRole('link', { name: 'A walk in the test pattern', exact: true }).waitFor();
  await page.getByRole('link', { name: 'Edit A walk in the test pattern' }).waitFor();
  await audit(page, 'studio');
  await page.goto(base);
  await page.getByRole('link', { name: 'A walk in the test pattern' }).waitFor();
  const poster = await page.evaluate(async () => {
    const img = document.querySelector('.card img');
    if (!img.complete) await new Promise((r) => { img.onload = r; img.onerror = r; });
    return img.naturalWidth;
  });
  if (!(poster > 0)) throw new Error('the video card has no picture');
  await audit(page, 'home-signed-in');
  step('listed');
  await page.getByLabel('Search').fill('test pattern');
  await page.getByLabel('Search').press('Enter');
  await page.waitForURL('**/search?q=**');
  await page.getByRole('link', { name: 'A walk in the test pattern' }).waitFor();
  await audit(page, 'search');
  step('found');

  // A file that is not a video ends with its reason, in plain words.
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Upload' }).click();
  await page.getByLabel('Video file').setInputFiles(notVideo);
  await page.getByLabel('Title').fill('Not a video');
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('status').filter({ hasText: 'Failed' }).waitFor({ timeout: 120_000 });
  summary.rejected = await page.getByRole('status').textContent();
  summary.rejectedLink = await page.locator('#processing .watch-link a').textContent();
  summary.formShownAfterSubmit = await page.locator('#upload').isVisible();
  await audit(page, 'upload-rejected');
  step('rejected');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in' }).waitFor();
  step('signed out');
  if (summary.errors.length) throw new Error(`page errors: ${summary.errors.join('; ')}`);
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
