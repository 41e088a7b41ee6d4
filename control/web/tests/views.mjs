// Views in headless Chromium: a real watch (hls.js sending the page's ticket as CMCD, the
// edge's receipt handed to the API once the player has played long enough) counts one view
// and the page shows it at once; a reload within the hour plays again and counts nothing.
// Usage: node views.mjs WATCH_URL
import { launch } from './browser.mjs';

const [watchUrl] = process.argv.slice(2, 3);
const summary = { media_with_ticket: 0 };
let ok = false;
const browser = await launch();
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('request', (r) => {
    if (r.url().includes('.m4s') && decodeURIComponent(r.url()).includes('sid="t1.')) {
      summary.media_with_ticket += 1;
    }
  });
  // Plays the page's video until its view is handed in; the API's answer.
  const watch = async () => {
    const counted = page.waitForResponse((r) => r.url().endsWith('/views')
      && r.request().method() === 'POST' && r.status() === 200);
    await page.waitForFunction(() => document.getElementById('player')?.readyState >= 2);
    await page.evaluate(() => { const v = document.getElementById('player'); v.muted = true; return v.play(); });
    return (await counted).json();
  };
  await page.goto(watchUrl);
  summary.before = await page.locator('[data-views]').textContent();
  summary.first = await watch();
  await page.waitForFunction(() => document.querySelector('[data-views]').textContent === '1 view');
  summary.shown = await page.locator('[data-views]').textContent();
  await page.reload();
  summary.second = await watch();
  summary.after_reload = await page.locator('[data-views]').textContent();
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
}
await browser.close().catch(() => {});
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
