// Sign-in with a provider in headless Chromium: "Sign in with PROVIDER" on the sign-in page,
// the provider's own login and consent pages, and back signed in, with an account made from
// what the provider vouched for. Then signed out and in again: the same account. The
// provider's redirect back, replayed in another browser or used twice, signs no one in.
// With `taken`, the login's email has an account already: the sign-in page says so.
// Usage: node oidc.mjs BASE_URL PROVIDER LOGIN SCREENSHOT_DIR [taken]
import { audit, launch } from './browser.mjs';

const [base, providerName, login_name, shots, mode] = process.argv.slice(2, 7);
const summary = {};
let ok = false;
const browser = await launch();
try {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  const callbacks = [];
  page.on('request', (r) => { if (r.url().includes('/callback?')) callbacks.push(r.url()); });
  await page.goto(`${base}/signin`);
  if (mode !== 'taken') await audit(page, shots, 'signin-with-providers');
  // Through the provider's pages, whichever it shows: its login (the first time), its
  // consent (the first time), or none (it remembers the person).
  const signIn = async () => {
    await page.goto(`${base}/signin`);
    await page.getByRole('link', { name: `Sign in with ${providerName}` }).click();
    for (let step = 0; step < 10 && !page.url().startsWith(base); step += 1) {
      await page.waitForLoadState();
      const login = page.locator('input[name="login"]');
      const consent = page.getByRole('button', { name: 'Continue' });
      if (await login.count()) {
        await login.fill(login_name);
        await page.locator('input[name="password"]').fill('anything');
        await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign-in' }).click()]);
      } else if (await consent.count()) {
        await Promise.all([page.waitForNavigation(), consent.click()]);
      } else {
        await page.waitForTimeout(200);
      }
    }
  };
  await signIn();
  summary.after_first = page.url().replace(base, '');
  if (mode === 'taken') {
    summary.alert = await page.getByRole('alert').first().textContent();
    summary.me_status = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
    console.log(JSON.stringify(summary));
    await browser.close();
    process.exit(0);
  }
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  summary.me = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  summary.providers = await page.evaluate(async () => (await (await fetch('/api/v1/me/export')).json())
    .account.sign_in_providers.map((p) => p.id));
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in' }).first().waitFor();
  await signIn();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  summary.me_again = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  // The same redirect back again, in this browser: used already.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in' }).first().waitFor();
  await page.goto(callbacks[0]);
  summary.reused = { at: page.url().replace(base, ''), alert: await page.getByRole('alert').first().textContent() };
  summary.reused_me = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
  // A fresh redirect back, taken to another browser (login CSRF): not this browser's sign-in.
  const other = await launch();
  try {
    const elsewhere = await other.context.newPage();
    const pending = page.waitForRequest((r) => r.url().includes('/callback?'));
    await page.goto(`${base}/signin`);
    // Stop at the redirect back: the provider remembers the person, so no login page now.
    await page.route('**/callback?*', (route) => route.abort());
    await page.getByRole('link', { name: `Sign in with ${providerName}` }).click();
    const stolen = (await pending).url();
    await elsewhere.goto(stolen);
    summary.elsewhere = elsewhere.url().replace(base, '');
    summary.elsewhere_me = await elsewhere.evaluate(async () => (await fetch('/api/v1/me')).status);
  } finally {
    await other.close();
  }
  ok = true;
} catch (e) {
  summary.failure = String(e?.stack ?? e);
}
await browser.close().catch(() => {});
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
