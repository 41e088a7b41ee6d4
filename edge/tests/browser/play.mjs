// Plays an HLS URL with hls.js in headless Chromium and reports what a viewer would see.
// Usage: node play.mjs MASTER_URL [SECONDS]
// Exit 0 when playback reached SECONDS of media with no fatal hls.js error; the last stdout
// line is a JSON summary either way.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const url = process.argv[2];
const seconds = Number(process.argv[3] ?? 10);
if (!url) {
  console.error('usage: node play.mjs MASTER_URL [SECONDS]');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'sunomi-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
let result;
try {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><video id="v" muted playsinline></video>');
  await page.addScriptTag({ path: require.resolve('hls.js/dist/hls.min.js') });
  result = await page.evaluate(({ url, seconds }) => new Promise((resolve) => {
    const video = document.getElementById('v');
    const hls = new Hls({ enableWorker: false });
    const errors = [];
    const finish = (ok, reason) => resolve({
      ok, reason, currentTime: video.currentTime, levels: hls.levels.length,
      audioTracks: hls.audioTracks.length, subtitleTracks: hls.subtitleTracks.length,
      textTracks: Array.from(video.textTracks).map((t) => t.language), errors,
    });
    hls.on(Hls.Events.ERROR, (_, d) => {
      errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`);
      if (d.fatal) finish(false, 'fatal hls.js error');
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      video.play().catch((e) => errors.push(`play(): ${e}`));
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    const started = Date.now();
    const timer = setInterval(() => {
      if (video.currentTime >= seconds) {
        clearInterval(timer);
        finish(true, 'played');
      } else if (Date.now() - started > (seconds + 50) * 1000) {
        clearInterval(timer);
        finish(false, 'timed out before reaching the target time');
      }
    }, 200);
  }), { url, seconds });
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
