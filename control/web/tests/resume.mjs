// A reload in the middle of an upload, in headless Chromium on a slow uplink: after the
// reload the person chooses the same file again and the upload goes on from where the
// server had it (not from 0), then the video is processed as usual.
// Usage: node resume.mjs BASE_URL VIDEO_FILE
import { launch, signUp } from './browser.mjs';

const [base, file] = process.argv.slice(2, 4);
const browser = await launch({ bypassCSP: false });
const summary = {};
let ok = false;
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(30_000);
  await signUp(page, base, 'Ada');

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
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
