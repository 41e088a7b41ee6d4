// Benchmark (not a test): how long a viewer waits on the watch page — from navigation to the
// player's first `playing` event — in headless Chromium on this machine, over RUNS cold loads
// (a fresh browser profile each: nothing cached). The page is played as a person pressing
// play at once would (muted, play() when the document is parsed).
// Usage: node first-playing.mjs WATCH_URL [RUNS]
// Prints one JSON line: every run's milliseconds, the median and the slowest.
import { launch } from './browser.mjs';

const [url, runsArg] = process.argv.slice(2, 4);
const runs = Number(runsArg ?? 11);
const times = [];
for (let i = 0; i < runs; i++) {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    await page.addInitScript(() => {
      document.addEventListener('DOMContentLoaded', () => {
        const v = document.getElementById('player');
        if (!v) return;
        v.muted = true;
        v.addEventListener('playing', () => { window.firstPlaying = performance.now(); }, { once: true });
        v.play().catch(() => {});
      });
    });
    await page.goto(url);
    await page.waitForFunction(() => window.firstPlaying !== undefined, null, { timeout: 30_000 });
    times.push(Math.round(await page.evaluate(() => window.firstPlaying)));
  } finally {
    await browser.close();
  }
}
const sorted = [...times].sort((a, b) => a - b);
console.log(JSON.stringify({
  runs: times, median_ms: sorted[Math.floor(sorted.length / 2)], max_ms: sorted[sorted.length - 1],
}));
