// A person's channel from the settings page in headless Chromium: a picture chosen with the
// file picker and saved, a description saved, both on their channel page (checked with
// axe-core). Usage: node channel.mjs BASE_URL PICTURE_FILE SCREENSHOT_DIR
import { audit, launch, signUp } from './browser.mjs';

const [base, pictureFile, shots] = process.argv.slice(2, 5);
const summary = {};
let ok = false;
const browser = await launch();
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  await signUp(page, base, 'Grace');
  await page.goto(`${base}/settings`);
  await page.getByLabel('Picture').setInputFiles(pictureFile);
  await page.getByRole('button', { name: 'Save picture' }).click();
  await page.getByRole('img', { name: 'Your picture' }).waitFor();
  await page.getByLabel('Channel description').fill('Compilers, and the ships they sail on.');
  await page.getByRole('button', { name: 'Save description' }).click();
  await page.getByText('Description saved.').waitFor();
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  await page.goto(`${base}/channel/${me.user.id}`);
  summary.description = await page.locator('.channel-description').textContent();
  summary.picture = await page.locator('.channel-head img').evaluate((img) => ({
    loaded: img.complete && img.naturalWidth, src: img.getAttribute('src'),
  }));
  await audit(page, shots, 'channel');
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
}
await browser.close().catch(() => {});
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
