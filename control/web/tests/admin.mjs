// The admin page in headless Chromium: an admin finds an account and makes it a moderator,
// saying why. Checked with axe-core.
// Usage: node admin.mjs BASE_URL ADMIN_EMAIL ADMIN_PASSWORD SCREENSHOT_DIR
import { audit, launch } from './browser.mjs';

const [base, email, password, shots] = process.argv.slice(2, 6);
const summary = {};
let ok = false;
const browser = await launch();
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(new URL('/signin', base).href);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Admin' }).click();
  await page.waitForURL('**/admin');
  await page.getByLabel('Find an account').fill('bob');
  await page.getByRole('button', { name: 'Find' }).click();
  await page.waitForURL('**/admin?q=bob');
  const account = page.getByRole('form', { name: 'Account bob@example.org' });
  await account.getByLabel('Role').selectOption('moderator');
  await account.getByLabel('Reason').fill('Helps with reports');
  await account.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => document.querySelector('form[data-user] .saved')?.textContent);
  summary.saved = await account.getByRole('status').textContent();
  await audit(page, shots, 'admin');
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
