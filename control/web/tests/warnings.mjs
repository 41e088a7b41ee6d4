// Content warnings in headless Chromium: the uploader flags her video in the studio with a
// summary; a guest meets the warning on the watch page and plays the video after confirming;
// a second person chooses to hide violence in their settings, and the video leaves their
// home page and search. Pages checked with axe-core.
// Usage: node warnings.mjs BASE_URL EMAIL PASSWORD VIDEO_ID SCREENSHOT_DIR
import { audit as check, launch, signIn, signUp } from './browser.mjs';

const [base, email, password, videoId, shots] = process.argv.slice(2, 7);
const summary = {};
const audit = (page, name) => check(page, shots, name);
const url = (path) => new URL(path, base).href;
const SUMMARY = 'A staged sword fight, with fake blood.';
let ok = false;
let uploader;
let viewer;
try {
  uploader = await launch();
  const page = await uploader.context.newPage();
  page.setDefaultTimeout(20_000);
  await signIn(page, base, email, password);
  await page.goto(url('/studio'));
  await page.getByRole('link', { name: 'Edit Stage fight' }).click();
  await page.waitForURL(`**/studio/${videoId}`);
  await page.getByRole('checkbox', { name: 'violence' }).check();
  await page.getByLabel('What it shows, in your words').fill(SUMMARY);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  await page.reload();
  summary.checkedAfterReload = await page.getByRole('checkbox', { name: 'violence' }).isChecked();
  // Captions from the studio.
  await page.getByLabel('Language').fill('en');
  await page.getByLabel('Captions file (WebVTT)').setInputFiles({
    name: 'fight.vtt', mimeType: 'text/vtt',
    buffer: Buffer.from('WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nEn garde!\n'),
  });
  await page.getByRole('button', { name: 'Upload captions' }).click();
  await page.getByRole('button', { name: 'Delete the en captions' }).waitFor();
  summary.captions = (await page.locator('.captions-list li').first().textContent()).replace(/\s+/g, ' ');
  await audit(page, 'studio-edit');

  viewer = await launch();
  const guest = await viewer.context.newPage();
  guest.setDefaultTimeout(20_000);
  await guest.goto(url('/'));
  summary.homeNote = await guest.locator('.card', { hasText: 'Stage fight' }).locator('.warning-note').textContent();
  await guest.goto(url(`/watch/${videoId}`));
  const gate = guest.getByRole('region', { name: 'Content warning' });
  summary.warning = (await gate.textContent()).replace(/\s+/g, ' ');
  summary.playerHiddenBefore = await guest.locator('.player').isHidden();
  await audit(guest, 'watch-warning');
  await guest.getByRole('button', { name: 'Watch anyway' }).click();
  summary.gateHiddenAfter = await gate.isHidden();
  await guest.waitForFunction(() => document.getElementById('player').readyState >= 2);
  await guest.evaluate(() => { const v = document.getElementById('player'); v.muted = true; return v.play(); });
  await guest.waitForFunction(() => document.getElementById('player').currentTime > 1);
  summary.played = await guest.evaluate(() => document.getElementById('player').currentTime);

  await signUp(guest, base, 'Bob');
  await guest.goto(url('/settings'));
  await audit(guest, 'settings');
  await guest.getByLabel('Violence').selectOption('hide');
  await guest.getByRole('button', { name: 'Save warnings' }).click();
  await guest.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  await guest.goto(url('/'));
  summary.homeForBob = await guest.locator('.card h2').allTextContents();
  await guest.goto(url('/search?q=fight'));
  summary.searchForBob = await guest.locator('main').textContent();
  await guest.reload();
  await guest.goto(url('/settings'));
  summary.violenceAfterReload = await guest.getByLabel('Violence').inputValue();
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await uploader?.close();
  await viewer?.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
