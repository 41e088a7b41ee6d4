// A second person on someone else's video, in headless Chromium: signs up, opens the watch
// page, likes it and subscribes (the buttons' pressed state and the counts follow), comments,
// finds the video in their Subscriptions, and visits the channel. Pages checked with axe-core.
// Usage: node social.mjs BASE_URL WATCH_PATH SCREENSHOT_DIR
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const [base, watchPath, shots] = process.argv.slice(2, 5);
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'sunomi-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  bypassCSP: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
});
const summary = {};
async function audit(page, name) {
  for (const [size, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    await page.setViewportSize(viewport);
    await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
    const bad = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] }))
      .violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`));
    await page.screenshot({ path: join(shots, `${name}-${size}.png`), fullPage: true });
    if (bad.length) throw new Error(`${name} (${size}): ${bad.join('; ')}`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}
let ok = false;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(new URL('/signup', base).href);
  await page.getByLabel('Display name').fill('Bob');
  await page.getByLabel('Email').fill(`bob.${Date.now()}@example.org`);
  await page.getByLabel('Password').fill('a long password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

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
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
