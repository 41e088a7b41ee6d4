// A keyboard-only journey in headless Chromium: signing in, uploading, watching and using the
// transcript with Tab, Shift+Tab, typing, Enter and Space alone (the file itself is handed to
// the file field, as the system's file dialog would). Each control is reached by tabbing to
// it and recognised by its accessible name; nothing is clicked.
// Usage: node keyboard.mjs BASE_URL EMAIL PASSWORD VIDEO_FILE WATCH_PATH_WITH_CAPTIONS
import { launch } from './browser.mjs';

const [base, email, password, file, captioned] = process.argv.slice(2, 7);
const summary = { reached: [] };
let ok = false;
const browser = await launch();

/// Presses Tab until the focused element's accessible name (its label, aria-label or text)
/// is `name`; throws after 60 presses.
async function tabTo(page, name) {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return '';
      const byLabel = el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent;
      return (el.getAttribute('aria-label') || byLabel || el.textContent || '').trim();
    });
    if (focused === name) { summary.reached.push(name); return; }
  }
  throw new Error(`Tab never reached "${name}"`);
}

try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(new URL('/', base).href);
  await tabTo(page, 'Sign in');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/signin');
  await tabTo(page, 'Email');
  await page.keyboard.type(email);
  await tabTo(page, 'Password');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  await tabTo(page, 'Upload');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/upload');
  await tabTo(page, 'Video file');
  await page.getByLabel('Video file').setInputFiles(file);
  await tabTo(page, 'Title');
  await page.keyboard.type('Typed, not clicked');
  await tabTo(page, 'Upload');
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: 'Watch it' }).waitFor({ timeout: 180_000 });
  await tabTo(page, 'Watch it');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/watch/**');
  await page.waitForFunction(() => document.getElementById('player')?.readyState >= 1);
  await page.evaluate(() => { document.getElementById('player').muted = true; });
  await page.locator('h1').focus();
  await page.keyboard.press('k');
  await page.waitForFunction(() => !document.getElementById('player').paused);
  summary.playedUpload = true;

  // A video with captions: the transcript's cues are buttons, Enter on one seeks there.
  await page.goto(new URL(captioned, base).href);
  await page.locator('#transcript .cues button').nth(2).waitFor();
  await tabTo(page, 'Search the transcript');
  for (let i = 0; i < 3; i++) await page.keyboard.press('Tab');
  const cue = await page.evaluate(() => document.activeElement.textContent);
  summary.cue = cue;
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('player').currentTime >= 3);
  summary.seeked = await page.evaluate(() => document.getElementById('player').currentTime);
  // Space presses Like; k plays from anywhere but a field.
  await page.evaluate(() => { document.getElementById('player').muted = true; });
  await tabTo(page, 'Like');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => document.querySelector('[data-like]')?.getAttribute('aria-pressed') === 'true');
  summary.liked = true;
  await page.locator('h1').focus();
  await page.keyboard.press('k');
  await page.waitForFunction(() => !document.getElementById('player').paused);
  summary.playing = true;
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
