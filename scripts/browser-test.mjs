// The browser half of scripts/browser-test.sh (run that, not this): drives the example
// gateway's page in headless Chromium through a plain sign-in, a Google-code sign-in and
// sign-out, checks the session cookie, and saves screenshots as OUT_DIR/NN-name.png.
// Environment: CHROMIUM, GATEWAY_URL, SIM_URL, OUT_DIR, PLAYWRIGHT_DIR (where
// node_modules/playwright-core is). Exits 1 on the first failure.
import { createRequire } from 'node:module';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) { console.error(`browser-test.mjs: ${name} is not set (run scripts/browser-test.sh)`); process.exit(2); }
  return v;
};
const chromiumPath = env('CHROMIUM');
const gateway = env('GATEWAY_URL').replace(/\/$/, '');
const sim = env('SIM_URL').replace(/\/$/, '');
const outDir = env('OUT_DIR');
const require = createRequire(path.resolve(env('PLAYWRIGHT_DIR'), 'package.json'));
const { chromium } = require('playwright-core');

const PASSWORD = 'QAzqw123!';
const TIMEOUT = 15_000;

class Failure extends Error {}
const check = (ok, message) => { if (!ok) throw new Failure(message); };

let shot = 0;
let page;
const pageErrors = [];
const started = Date.now();

const log = (msg) => console.log(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s  ${msg}`);

async function screenshot(name) {
  shot += 1;
  const file = path.join(outDir, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${path.basename(file)}`);
  return file;
}

async function currentStep() {
  const main = page.locator('main#step');
  if (await main.count() !== 1) return null;
  return main.getAttribute('data-step');
}

async function errorText() {
  const e = page.locator('#error');
  return (await e.count()) ? (await e.innerText()).trim() : '';
}

async function expectStep(step, context) {
  const got = await currentStep();
  if (got === step) return;
  const err = await errorText();
  throw new Failure(
    `${context}: expected data-step="${step}", page shows ` +
    (got === null ? 'no <main id="step"> element' : `data-step="${got}"`) +
    (err ? `, #error: "${err}"` : '') + ` (URL ${page.url()})`);
}

// Submits the form whose action is `action` by clicking its submit button, waits for the
// 303 to / to load, and checks the POST itself was answered 303.
async function submit(action, context) {
  const button = page.locator(`form[action="${action}"] button[type="submit"]`);
  const n = await button.count();
  check(n >= 1, `${context}: no <button type="submit"> inside <form action="${action}"> on step "${await currentStep()}"`);
  check(n === 1, `${context}: ${n} submit buttons for form action="${action}" (expected one)`);
  const form = page.locator(`form[action="${action}"]`);
  const method = (await form.getAttribute('method') || '').toLowerCase();
  check(method === 'post', `${context}: <form action="${action}"> has method="${method}", expected post`);
  const postSeen = page.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === action, { timeout: TIMEOUT });
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT }),
    button.click({ timeout: TIMEOUT }),
  ]);
  const post = await postSeen;
  check(post.status() === 303, `${context}: POST ${action} answered ${post.status()}, expected 303`);
  const location = post.headers()['location'];
  check(location === '/' || location === `${gateway}/`,
    `${context}: POST ${action} redirected to "${location}", expected "/"`);
  check(new URL(page.url()).pathname === '/', `${context}: landed on ${page.url()}, expected ${gateway}/`);
}

async function fill(name, value, context) {
  const input = page.locator(`input[name="${name}"]`);
  check(await input.count() === 1, `${context}: expected one <input name="${name}"> on step "${await currentStep()}"`);
  await input.fill(value, { timeout: TIMEOUT });
}

async function sessionCookies(context) {
  return (await context.cookies(gateway)).filter((c) => c.name === 'gw' || c.name === '__Host-gw');
}

async function checkCookie(context, label) {
  const cookies = await sessionCookies(context);
  check(cookies.length === 1, `${label}: expected one session cookie "gw", the browser holds ${
    JSON.stringify((await context.cookies(gateway)).map((c) => c.name))}`);
  const c = cookies[0];
  check(c.httpOnly === true, `${label}: cookie ${c.name} is not HttpOnly`);
  check(c.sameSite === 'Strict', `${label}: cookie ${c.name} has SameSite=${c.sameSite}, expected Strict`);
  check(c.path === '/', `${label}: cookie ${c.name} has Path=${c.path}, expected /`);
  check(/^[A-Za-z0-9_-]{43}$/.test(c.value), `${label}: cookie ${c.name} value is not 43 characters of base64url`);
  const visible = await page.evaluate(() => document.cookie);
  check(visible === '', `${label}: document.cookie is ${JSON.stringify(visible)}, expected "" (HttpOnly)`);
  return c.value;
}

async function callApi(email, label) {
  const button = page.locator('#call-api');
  check(await button.count() === 1, `${label}: no #call-api button on the signed-in page`);
  const result = page.locator('pre#api-result');
  check(await result.count() === 1, `${label}: no <pre id="api-result"> on the signed-in page`);
  const apiResponse = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/whoami', { timeout: TIMEOUT });
  await button.click({ timeout: TIMEOUT });
  const r = await apiResponse.catch(() => null);
  check(r !== null, `${label}: clicking #call-api made no request to /api/whoami within ${TIMEOUT / 1000} s`);
  check(r.status() === 200, `${label}: /api/whoami answered ${r.status()}: ${(await r.text().catch(() => '')).slice(0, 200)}`);
  try {
    await page.waitForFunction(
      (e) => (document.getElementById('api-result')?.textContent || '').includes(e), email, { timeout: TIMEOUT });
  } catch {
    throw new Failure(`${label}: #api-result does not show ${email} within ${TIMEOUT / 1000} s; it shows ${
      JSON.stringify(await result.innerText())}`);
  }
  // The page writes the answer's body, possibly after its status ("200 {...}").
  const text = (await result.innerText()).trim();
  const shown = /^(?:(\d{3})\s+)?(\{[\s\S]*\})$/.exec(text);
  check(shown !== null, `${label}: #api-result is not "[STATUS] {JSON}": ${JSON.stringify(text)}`);
  check(shown[1] === undefined || shown[1] === '200', `${label}: #api-result shows status ${shown[1]}: ${JSON.stringify(text)}`);
  let body;
  try { body = JSON.parse(shown[2]); } catch { throw new Failure(`${label}: #api-result is not JSON: ${JSON.stringify(text)}`); }
  check(body.email === email, `${label}: /api/whoami says email ${JSON.stringify(body.email)}, expected ${email}`);
}

async function signedIn(email, label) {
  await expectStep('signed-in', label);
  const shown = page.locator('#email');
  check(await shown.count() === 1, `${label}: no <span id="email"> on the signed-in page`);
  const text = (await shown.innerText()).trim();
  check(text === email, `${label}: #email shows ${JSON.stringify(text)}, expected ${email}`);
}

async function signOut(context, label) {
  await submit('/signout', `${label}: sign-out`);
  await expectStep('home', `${label}: after sign-out`);
  const left = await sessionCookies(context);
  check(left.length === 0, `${label}: the session cookie is still in the browser after sign-out`);
  const r = await page.request.get(`${gateway}/api/whoami`);
  check(r.status() === 401, `${label}: /api/whoami after sign-out answered ${r.status()}, expected 401`);
}

async function startSignIn(email, label) {
  await submit('/signin', `${label}: sign-in button`);
  await expectStep('credentials', `${label}: after the sign-in button`);
  await fill('email', email, label);
  await fill('password', PASSWORD, label);
  const pw = page.locator('input[name="password"]');
  check(await pw.getAttribute('type') === 'password', `${label}: the password input is not type="password"`);
}

async function googleCode(email) {
  // The code changes every 30 s: don't type one that is about to expire.
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 3_000) {
    log(`waiting ${(left / 1000).toFixed(1)} s for the next 30-s code window`);
    await new Promise((r) => setTimeout(r, left + 300));
  }
  const url = `${sim}/_sim/google-code?email=${encodeURIComponent(email)}`;
  let r;
  try { r = await fetch(url); } catch (e) { throw new Failure(`GET ${url}: ${e.message}`); }
  const text = await r.text();
  check(r.ok, `GET ${url} answered ${r.status}: ${text.slice(0, 200)}`);
  let body;
  try { body = JSON.parse(text); } catch { throw new Failure(`GET ${url} is not JSON: ${text.slice(0, 200)}`); }
  check(typeof body.code === 'string' && /^\d+$/.test(body.code), `GET ${url}: unexpected answer ${text.slice(0, 200)}`);
  return body.code;
}

async function main() {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    context.setDefaultTimeout(TIMEOUT);
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // A missing /favicon.ico is Chromium's own request, not the page's fault.
      const where = m.location()?.url || '';
      if (m.type() === 'error' && !where.endsWith('/favicon.ico')) {
        pageErrors.push(`console error: ${m.text()}${where ? ` (${where})` : ''}`);
      }
    });
    page.on('response', (r) => { if (r.status() >= 500) pageErrors.push(`${r.request().method()} ${r.url()} answered ${r.status()}`); });

    // --- (1) plain sign-in ---
    log('plain sign-in');
    const first = await page.goto(`${gateway}/`, { waitUntil: 'load' });
    check(first && first.status() === 200, `GET ${gateway}/ answered ${first && first.status()}`);
    await expectStep('home', 'first visit');
    check((await sessionCookies(context)).length === 0, 'first visit: a session cookie is set before any sign-in');
    await screenshot('home');

    await startSignIn('plain@example.com', 'plain');
    await checkCookie(context, 'plain, credentials step');
    await screenshot('plain-credentials');
    await submit('/signin/credentials', 'plain: credentials');
    await signedIn('plain@example.com', 'plain: after credentials');
    const plainCookie = await checkCookie(context, 'plain, signed in');
    await screenshot('plain-signed-in');
    await callApi('plain@example.com', 'plain');
    await screenshot('plain-api-result');
    await page.reload({ waitUntil: 'load' });
    await signedIn('plain@example.com', 'plain: after reload');
    await signOut(context, 'plain');
    await screenshot('plain-signed-out');

    // --- (2) Google Authenticator sign-in ---
    log('Google-code sign-in');
    const email = 'google@example.com';
    await startSignIn(email, 'google');
    const googleCookie = await checkCookie(context, 'google, credentials step');
    check(googleCookie !== plainCookie, 'google: the new sign-in reuses the signed-out session cookie value');
    await submit('/signin/credentials', 'google: credentials');
    await expectStep('code', 'google: after credentials');
    const method = page.locator('#method');
    check(await method.count() === 1, 'google: no <span id="method"> on the code step');
    const m = (await method.innerText()).trim();
    check(m === 'google', `google: #method shows ${JSON.stringify(m)}, expected "google"`);
    await screenshot('google-code');
    const code = await googleCode(email);
    await fill('code', code, 'google');
    await submit('/signin/code', 'google: code');
    await signedIn(email, 'google: after the code');
    await checkCookie(context, 'google, signed in');
    await screenshot('google-signed-in');
    await callApi(email, 'google');
    await screenshot('google-api-result');
    await signOut(context, 'google');
    await screenshot('google-signed-out');

    await context.close();
  } catch (e) {
    if (page) {
      try { await screenshot('FAIL'); } catch { /* the page may be gone */ }
    }
    if (pageErrors.length) console.error(`also seen:\n    ${pageErrors.join('\n    ')}`);
    throw e;
  } finally {
    await browser.close();
  }
  check(pageErrors.length === 0, `the page reported errors:\n    ${pageErrors.join('\n    ')}`);
}

try {
  await main();
  console.log(`browser-test: all checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(`browser-test: FAIL: ${e instanceof Failure ? e.message : (e && e.stack) || e}`);
  process.exit(1);
}
