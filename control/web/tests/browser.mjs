// What the browser tests share: Debian's Chromium launched headless in a throwaway profile,
// and the accessibility check (axe-core: no serious or critical violation) with a screenshot,
// at desktop and phone sizes.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const axePath = require.resolve('axe-core/axe.min.js');

/// A headless Chromium; `close()` also removes its profile. `bypassCSP` lets a test add
/// axe-core to pages whose own policy (rightly) allows no script from elsewhere.
export async function launch({ bypassCSP = true } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'sunomi-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    bypassCSP,
    args: [
      '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    ],
  });
  const recorded = recordApi(context);
  return {
    context,
    async close() {
      await Promise.all(recorded);
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/// With SUNOMI_API_LOG set, every exchange the pages have with `/api/v1` is appended to that
/// file as a JSON line, for tests/web.rs to judge against the OpenAPI document
/// (tests/judges/page_api_judge.py). Returns the pending writes.
function recordApi(context) {
  const log = process.env.SUNOMI_API_LOG;
  const pending = [];
  if (!log) return pending;
  context.on('response', (resp) => {
    const req = resp.request();
    if (!new URL(req.url()).pathname.startsWith('/api/v1/')) return;
    pending.push((async () => {
      let body = null;
      try { body = await resp.text(); } catch { body = null; }
      appendFileSync(log, `${JSON.stringify({
        method: req.method(),
        url: req.url(),
        request_type: req.headers()['content-type'] ?? null,
        request_body: req.postData(),
        status: resp.status(),
        response_type: resp.headers()['content-type'] ?? null,
        response_body: body,
      })}\n`);
    })());
  });
  return pending;
}

const SIZES = [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]];

/// Checks `page` with axe-core at each size and keeps a screenshot `{name}-{size}.png` in
/// `shots`; throws on a serious or critical violation. Returns what axe found.
export async function audit(page, shots, name) {
  mkdirSync(shots, { recursive: true });
  const found = [];
  for (const [size, viewport] of SIZES) {
    await page.setViewportSize(viewport);
    await page.addScriptTag({ path: axePath });
    const violations = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
    });
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    found.push({ page: name, size, violations: violations.length, serious: bad });
    await page.screenshot({ path: join(shots, `${name}-${size}.png`), fullPage: true });
    if (bad.length) throw new Error(`${name} (${size}): ${JSON.stringify(bad)}`);
  }
  await page.setViewportSize(SIZES[0][1]);
  return found;
}

/// Signs up a new person named `name` through the sign-up page (password "a long
/// password"); returns their email.
export async function signUp(page, base, name) {
  const email = `${name.toLowerCase()}.${Date.now()}@example.org`;
  await page.goto(new URL('/signup', base).href);
  await page.getByLabel('Display name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('a long password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return email;
}

/// Signs in with `email` and `password` through the sign-in page and waits until the
/// header offers "Sign out".
export async function signIn(page, base, email, password) {
  await page.goto(new URL('/signin', base).href);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}
