// The admin page in headless Chromium: an admin finds an account and makes it a moderator,
// saying why; makes an API key (shown once; it works, then is revoked), a webhook endpoint
// and a signing key. Checked with axe-core.
// Usage: node admin.mjs BASE_URL ADMIN_EMAIL ADMIN_PASSWORD SCREENSHOT_DIR
import { audit, launch, signIn } from './browser.mjs';

const [base, email, password, shots] = process.argv.slice(2, 6);
const summary = {};
let ok = false;
const browser = await launch();
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  await signIn(page, base, email, password);
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

  const keys = page.getByRole('region', { name: 'API keys' });
  await keys.getByLabel('Name of a new key').fill('Encoder farm');
  await keys.getByRole('button', { name: 'Make key' }).click();
  await keys.locator('.secret-shown pre').filter({ hasText: 'sk_' }).waitFor();
  summary.secret = await keys.locator('.secret-shown pre').textContent();
  summary.key_works = await page.evaluate(async (secret) => (await fetch('/api/v1/assets',
    { headers: { authorization: `Bearer ${secret}` } })).status, summary.secret);
  const hooks = page.getByRole('region', { name: 'Webhook endpoints' });
  await hooks.getByLabel('URL of a new endpoint').fill('http://127.0.0.1:9/sunomi-hook');
  await hooks.getByRole('button', { name: 'Add endpoint' }).click();
  await hooks.locator('.secret-shown pre').filter({ hasText: 'whsec_' }).waitFor();
  // The list is read again after the secret shows.
  await hooks.locator('.admin-items li').filter({ hasText: 'sunomi-hook' }).waitFor();
  summary.hooks = await hooks.locator('.admin-items li').allTextContents();
  const signing = page.getByRole('region', { name: 'Signing keys' });
  await signing.getByRole('button', { name: 'Make signing key' }).click();
  await signing.locator('.secret-shown pre').filter({ hasText: 'PRIVATE KEY' }).waitFor();
  await signing.locator('.admin-items li').first().waitFor();
  summary.signing = await signing.locator('.admin-items li').count();
  await audit(page, shots, 'admin');
  await keys.getByRole('button', { name: /^Revoke Encoder farm/ }).click();
  await keys.locator('.admin-items li').filter({ hasText: 'revoked' }).waitFor();
  summary.key_after_revoke = await page.evaluate(async (secret) => (await fetch('/api/v1/assets',
    { headers: { authorization: `Bearer ${secret}` } })).status, summary.secret);
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
