// Two-factor sign-in from the pages, in headless Chromium, with oathtool as the authenticator
// app: a person sets it up in Settings (the key shown, a code turns it on, ten recovery codes
// appear), signs out, and signs in again — the code field appears after the password — and
// changes their display name. Pages checked with axe-core.
// Usage: node twofactor.mjs BASE_URL SCREENSHOT_DIR
import { execFileSync } from 'node:child_process';
import { audit as check, launch, signUp } from './browser.mjs';

const [base, shots] = process.argv.slice(2, 4);
const summary = {};
const audit = (page, name) => check(page, shots, name);
const url = (path) => new URL(path, base).href;
const code = (secret, offset) => execFileSync('oathtool',
  ['--totp', '-b', secret, '-N', `now + ${offset} seconds`]).toString().trim();
let ok = false;
const browser = await launch();
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  const email = await signUp(page, base, 'Tess');
  await page.goto(url('/settings'));
  await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  await page.getByLabel('Code from the app').waitFor();
  const secret = (await page.locator('code.secret').textContent()).trim();
  summary.secretLength = secret.length;
  summary.otpauth = await page.getByRole('link', { name: 'Open in an authenticator app' }).getAttribute('href');
  await page.getByLabel('Code from the app').fill(code(secret, 0));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#recovery').waitFor();
  summary.recoveryCodes = await page.locator('.recovery-codes li').count();
  await audit(page, 'settings-two-factor');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in' }).waitFor();
  await page.goto(url('/signin'));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('a long password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const field = page.getByLabel('Authentication code');
  await field.waitFor();
  summary.asked = await page.getByRole('alert').textContent();
  await audit(page, 'signin-code');
  await field.fill(code(secret, 30));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  summary.signedIn = true;
  await page.goto(url('/settings'));
  await page.getByLabel('Display name').fill('Tess Ogden');
  await page.getByRole('button', { name: 'Save name' }).click();
  summary.renamed = await page.locator('#rename').getByRole('status').textContent();
  summary.exportLink = await page.getByRole('link', { name: 'Download my data' }).getAttribute('href');
  summary.settingsSays = await page.getByRole('region', { name: 'Two-factor sign-in' }).locator('p').first().textContent();
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
