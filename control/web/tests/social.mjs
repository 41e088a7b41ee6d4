// A second person on someone else's video, in headless Chromium: signs up, opens the watch
// page, likes it and subscribes (the buttons' pressed state and the counts follow), comments,
// finds the video in their Subscriptions, and visits the channel. Pages checked with axe-core.
// Usage: node social.mjs BASE_URL WATCH_PATH SCREENSHOT_DIR
import { audit as check, launch, signUp } from './browser.mjs';

const [base, watchPath, shots] = process.argv.slice(2, 5);
const browser = await launch();
const summary = {};
const audit = (page, name) => check(page, shots, name);
let ok = false;
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  await signUp(page, base, 'Bob');

  await page.goto(new URL(watchPath, base).href);
  const like = page.getByRole('button', { name: 'Like' });
  await like.click();
  await page.waitForFunction(() => document.querySelector('[data-like]').getAttribute('aria-pressed') === 'true');
  summary.likes = await page.locator('[data-likes]').textContent();
  const subscribe = page.getByRole('button', { name: 'Subscribe' });
  await subscribe.click();
  await page.waitForFunction(() => document.querySelector('[data-subscribe]').getAttribute('aria-pressed') === 'true');
  summary.subscribers = await page.locator('[data-subscribers]').textContent();
  await page.getByRole('textbox', { name: 'Add a comment' }).fill('What a lovely test pattern.');
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  await page.getByText('What a lovely test pattern.').waitFor();
  summary.comment = true;
  // After a reload the state is the stored one.
  await page.reload();
  summary.pressed = await page.evaluate(() => [
    document.querySelector('[data-like]').getAttribute('aria-pressed'),
    document.querySelector('[data-subscribe]').getAttribute('aria-pressed'),
  ]);
  await audit(page, 'watch-social');

  await page.getByRole('link', { name: 'Subscriptions' }).click();
  await page.waitForURL('**/feed');
  summary.feed = await page.locator('.card h2').allTextContents();
  await audit(page, 'feed');
  await page.goto(new URL(watchPath, base).href);
  await page.locator('.meta a[href^="/channel/"]').first().click();
  await page.waitForURL('**/channel/**');
  summary.channel = await page.locator('h1').textContent();
  await audit(page, 'channel');
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
