// What the browser tests share: Debian's Chromium launched headless in a throwaway profile,
// and the accessibility check (axe-core: no serious or critical violation) with a screenshot,
// at desktop and phone sizes.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
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
