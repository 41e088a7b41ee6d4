// A reload in the middle of an upload, in headless Chromium on a slow uplink: after the
// reload the person chooses the same file again and the upload goes on from where the
// server had it (not from 0), then the video is processed as usual.
// Usage: node resume.mjs BASE_URL VIDEO_FILE
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, file] = process.argv.slice(2, 4);
const profile = mkdtempSync(join(tmpdir(), 'sunomi-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
});
const summary = {};
let ok = false;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(new URL('/signup', base).href);
  await page.getByLabel('Display name').fill('Ada');
  await page.getByLabel('Email').fill(`ada.${Date.now()}@example.org`);
  await page.getByLabel('Password').fill('a long password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  const cdp = await page.context().newCDPSession(page);
  const uplink = (bytesPerSecond) => cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond,
  });
  await uplink(64 * 1024);
  await page.goto(new URL('/upload', base).href);
  await page.getByLabel('Video file').setInputFiles(file);
  await page.getByLabel('Title').fill('Resumed');
  await page.getByRole('button', { name: 'Upload' }).click();
  // Reload once a good part is sent.
  await page.waitForFunction(() => Number(document.querySelector('#progress progress')?.value) >= 25);
  summary.beforeReload = await page.evaluate(() => Number(document.querySelector('#progress progress').value));
  await page.reload();
  // Still slow: the first progress the page shows is where the server had the upload (a
  // restart from 0 would show a few percent).
  await page.getByLabel('Video file').setInputFiles(file);
  await page.getByRole('button', { name: 'Upload' }).click();
  // The first progress after the reload starts where the server had it.
  await page.waitForFunction(() => Number(document.querySelector('#progress progress')?.value) > 0);
  summary.resumedAt = await page.evaluate(() => Number(document.querySelector('#progress progress').value));
  await uplink(-1);
  await page.getByRole('status').filter({ hasText: 'Ready' }).waitFor({ timeout: 180_000 });
  summary.final = await page.getByRole('status').textContent();
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
