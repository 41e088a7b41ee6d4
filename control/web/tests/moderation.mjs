// A report reaches the moderation queue and a moderator blocks the video, in headless
// Chromium: a viewer reports a moment of the video from the watch page; the moderator opens
// the queue, then the review page (the report's moment seeks the player), blocks the video
// with a reason and is back at an empty queue; the reporter reads the outcome. Pages checked
// with axe-core.
// Usage: node moderation.mjs BASE_URL WATCH_PATH MODERATOR_EMAIL MODERATOR_PASSWORD SCREENSHOT_DIR
import { audit as check, launch, signIn, signUp } from './browser.mjs';

const [base, watchPath, modEmail, modPassword, shots] = process.argv.slice(2, 7);
const summary = {};
const audit = (page, name) => check(page, shots, name);
const url = (path) => new URL(path, base).href;
let ok = false;
let reporterBrowser;
let moderatorBrowser;
try {
  reporterBrowser = await launch();
  const bob = await reporterBrowser.context.newPage();
  bob.setDefaultTimeout(20_000);
  await signUp(bob, base, 'Bob');
  await bob.goto(url(watchPath));
  const report = bob.getByRole('button', { name: 'Report', exact: true });
  await report.click();
  summary.expanded = await report.getAttribute('aria-expanded');
  const form = bob.getByRole('form', { name: 'Report this video' });
  await form.getByLabel('Reason').selectOption('hateful');
  await form.getByLabel('Details').fill('Insults from the first second.');
  await form.getByLabel('From').fill('1');
  await form.getByLabel('To').fill('2');
  await audit(bob, 'watch-report');
  await form.getByRole('button', { name: 'Send report' }).click();
  summary.sent = await form.getByRole('status').textContent();

  moderatorBrowser = await launch();
  const mo = await moderatorBrowser.context.newPage();
  mo.setDefaultTimeout(20_000);
  await signIn(mo, base, modEmail, modPassword);
  await mo.getByRole('link', { name: 'Moderation' }).click();
  await mo.waitForURL('**/moderation');
  summary.queue = (await mo.locator('.queue li').first().textContent()).replace(/\s+/g, ' ');
  await audit(mo, 'moderation-queue');
  await mo.locator('.queue li a').first().click();
  await mo.waitForURL('**/moderation/videos/**');
  await mo.waitForFunction(() => document.getElementById('player')?.readyState >= 1);
  const moment = mo.locator('.reports a[data-seek]').first();
  summary.moment = await moment.textContent();
  await moment.click();
  summary.seekedTo = await mo.evaluate(() => document.getElementById('player').currentTime);
  await audit(mo, 'moderation-review');
  await mo.getByRole('radio', { name: /^Block/ }).check();
  await mo.getByLabel('Reason').fill('Harassment at 0:01, as reported.');
  await mo.getByRole('button', { name: 'Decide' }).click();
  await mo.waitForURL('**/moderation');
  summary.after = await mo.getByRole('region', { name: 'Videos' }).textContent();
  summary.log = await mo.locator('.log li').first().textContent();

  await bob.goto(url('/reports'));
  summary.outcome = await bob.locator('.reports li p').first().textContent();
  await audit(bob, 'my-reports');
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await reporterBrowser?.close();
  await moderatorBrowser?.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
