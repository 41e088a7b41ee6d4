// A video held for review plays for the moderator who decides on it, in headless Chromium:
// the moderator signs in, finds it in the queue as held, opens the review page, plays it
// (hls.js, with the page's review token) and approves it with a reason. The review page is
// checked with axe-core.
// Usage: node review.mjs BASE_URL MODERATOR_EMAIL MODERATOR_PASSWORD SCREENSHOT_DIR
import { audit, launch, signIn } from './browser.mjs';

const [base, email, password, shots] = process.argv.slice(2, 6);
const summary = {};
let ok = false;
let browser;
try {
  browser = await launch();
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  await signIn(page, base, email, password);
  await page.getByRole('link', { name: 'Moderation' }).click();
  await page.waitForURL('**/moderation');
  summary.queue = (await page.locator('.queue li').first().textContent()).replace(/\s+/g, ' ');
  await page.locator('.queue li a').first().click();
  await page.waitForURL('**/moderation/videos/**');
  summary.status = (await page.locator('main .meta').first().textContent()).replace(/\s+/g, ' ');
  const player = page.locator('#player');
  summary.src = await player.getAttribute('data-src');
  await page.waitForFunction(() => document.getElementById('player')?.readyState >= 1);
  await page.evaluate(() => {
    const v = document.getElementById('player');
    v.muted = true;
    return v.play();
  });
  await page.waitForFunction(() => document.getElementById('player').currentTime > 1.5, null, {
    timeout: 30_000,
  });
  summary.played = await page.evaluate(() => document.getElementById('player').currentTime);
  await audit(page, shots, 'moderation-review-held');
  await page.getByRole('radio', { name: /^Approve/ }).check();
  await page.getByLabel('Reason').fill('Watched it: a test pattern, nothing explicit.');
  await page.getByRole('button', { name: 'Decide' }).click();
  await page.waitForURL('**/moderation');
  summary.after = await page.getByRole('region', { name: 'Videos' }).textContent();
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser?.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
