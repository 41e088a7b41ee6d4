// The embed player framed by another page, in headless Chromium: it loads in an <iframe> of
// a page that is not Sunomi's, plays, and links back to the video. Checked with axe-core.
// Usage: node embed.mjs EMBED_URL SCREENSHOT_DIR
import http from 'node:http';
import { audit as check, launch } from './browser.mjs';

const [embedUrl, shots] = process.argv.slice(2, 4);
const summary = {};
let ok = false;
const browser = await launch({ bypassCSP: false });
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  // Someone's blog, on an origin of its own (another port).
  const blog = http.createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>Someone's blog</title><h1>My favourite video</h1>
      <iframe src="${embedUrl}" width="640" height="400" allow="fullscreen" title="Sunomi video"></iframe>`);
  });
  await new Promise((r) => blog.listen(0, '127.0.0.1', r));
  await page.goto(`http://127.0.0.1:${blog.address().port}/`);
  summary.host = page.url();
  const frame = page.frameLocator('iframe');
  await frame.locator('#player').waitFor({ state: 'attached' });
  const inner = page.frames().find((f) => f.url().startsWith(embedUrl));
  await inner.waitForFunction(() => document.getElementById('player').readyState >= 2);
  await inner.evaluate(() => { const v = document.getElementById('player'); v.muted = true; return v.play(); });
  await inner.waitForFunction(() => document.getElementById('player').currentTime > 1);
  summary.played = await inner.evaluate(() => document.getElementById('player').currentTime);
  summary.link = await frame.getByRole('link').getAttribute('href');
  summary.target = await frame.getByRole('link').getAttribute('target');
  await browser.close();
  blog.close();
  const direct = await launch();
  const alone = await direct.context.newPage();
  await alone.goto(embedUrl);
  // Checked with the player's menus shown (they appear once the playlist is read).
  await alone.locator('.player-menus').waitFor();
  await check(alone, shots, 'embed');
  await direct.close();
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
  await browser.close().catch(() => {});
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
