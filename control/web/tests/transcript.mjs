// The watch page's interactive transcript in headless Chromium: the region "Transcript"
// lists the cues; a click on one seeks the player there; while it plays, the highlighted cue
// follows; the transcript's search keeps and highlights the matching cues; the player's menus
// (quality, speed, captions) and keys work. The page is checked
// with axe-core at desktop and phone sizes.
// Usage: node transcript.mjs WATCH_URL SCREENSHOT_DIR
import { audit, launch } from './browser.mjs';

const [url, shots] = process.argv.slice(2, 4);
const browser = await launch();
const summary = {};
let ok = false;
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  // A link to a moment starts the player there.
  await page.goto(`${url}?t=9`);
  await page.waitForFunction(() => document.getElementById('player').currentTime >= 9);
  summary.startedAt = await page.evaluate(() => document.getElementById('player').currentTime);
  await page.goto(url);
  const region = page.getByRole('region', { name: 'Transcript' });
  const cues = region.getByRole('button');
  await cues.nth(3).waitFor();
  summary.cues = await cues.allTextContents();
  // Seek by clicking the third cue (6 s).
  await page.evaluate(() => { document.getElementById('player').muted = true; });
  await cues.nth(2).click();
  await page.waitForFunction(() => document.getElementById('player').currentTime >= 6);
  summary.afterClick = await page.evaluate(() => document.getElementById('player').currentTime);
  // Playing on, the highlight follows into the fourth cue (9 s).
  await page.waitForFunction(() => {
    const now = document.querySelector('#transcript li[aria-current="true"]');
    return now && now.textContent.includes('delta');
  }, null, { timeout: 30_000 });
  summary.followed = await page.evaluate(() => document.querySelector('#transcript li[aria-current="true"]').textContent);
  // Enter on a cue seeks too.
  await cues.nth(0).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('player').currentTime < 3);
  // Search within it.
  await region.getByLabel('Search the transcript').fill('BRAVO second');
  await page.waitForFunction(() => document.querySelectorAll('#transcript li:not([hidden])').length === 1);
  summary.matches = await region.locator('.matches').textContent();
  summary.marked = await region.locator('mark').allTextContents();
  // The player's menus and keys.
  const quality = page.getByLabel('Quality');
  await quality.waitFor();
  summary.qualities = await quality.locator('option').allTextContents();
  await quality.selectOption({ index: 1 });
  summary.level = await page.evaluate(() => window.sunomiPlayer.currentLevel);
  await page.getByLabel('Speed').selectOption('1.5');
  summary.rate = await page.evaluate(() => document.getElementById('player').playbackRate);
  await page.waitForFunction(() => document.querySelectorAll('#captions option').length > 1);
  summary.captions = await page.getByLabel('Captions').locator('option').allTextContents();
  await page.getByLabel('Captions').selectOption({ index: 1 });
  summary.subtitleTrack = await page.evaluate(() => window.sunomiPlayer.subtitleTrack);
  await page.evaluate(() => { const v = document.getElementById('player'); v.pause(); v.currentTime = 1; });
  await page.locator('h1').click();
  await page.keyboard.press('l');
  summary.afterL = await page.evaluate(() => document.getElementById('player').currentTime);
  await page.keyboard.press('k');
  summary.playingAfterK = await page.evaluate(() => !document.getElementById('player').paused);
  await audit(page, shots, 'watch-transcript');
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
