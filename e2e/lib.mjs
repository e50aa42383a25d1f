// The pieces every browser test (e2e/*.test.mjs) shares: the environment
// e2e/run sets, Debian's Chromium through playwright-core, browser contexts
// in Chinese, a room PC's browser with a profile that outlives it (and
// killed outright), the ordered steps with screenshots on failure,
// navigation and forms, signing in on the portal and on a site node's console, a spoken
// WAV for the fake microphone, site node processes, waiting for a
// condition, and the JSON API with a token.
//
// A test imports what it needs:
//
//   import { BASE, requireEnv, steps, launchBrowser, newContext, go, signIn } from './lib.mjs';
//   requireEnv('JNEDU_BASE_URL');
//   const { step, watch } = steps('portal');
//
// Every timeout here is how long to wait before giving up, never a speed
// check.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// ---- environment ----------------------------------------------------------

/** BASE is the center e2e/run started (`jnedu serve --demo`). */
export const BASE = process.env.JNEDU_BASE_URL;
/** BIN is the jnedu binary e2e/run built (for site nodes and CLI tools). */
export const BIN = process.env.JNEDU_BIN;
/** FIXTURE is the e2e/examfixture binary e2e/run built. */
export const FIXTURE = process.env.JNEDU_EXAMFIXTURE;
/** SHOTS is the screenshot folder (e2e/screenshots unless JNEDU_SCREENSHOTS says otherwise). */
export const SHOTS = process.env.JNEDU_SCREENSHOTS || new URL('./screenshots', import.meta.url).pathname;
/** CHROMIUM is the browser: Debian's, never a downloaded one. */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** DEMO_PASSWORD is the password of every demo account (`serve --demo`). */
export const DEMO_PASSWORD = 'Demo2026jn';
/** DESKTOP and PHONE are the viewports the pages are checked at. */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
/** TIMEOUT is how long an action or a navigation may take before it fails. */
export const TIMEOUT = 15_000;

mkdirSync(SHOTS, { recursive: true });

/** requireEnv throws unless every named environment variable is set. */
export function requireEnv(...names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`${missing.join(' / ')} ${missing.length > 1 ? 'are' : 'is'} not set: run the tests with e2e/run`);
  }
}

/**
 * runSuffix is unique per run (base 36, lower case), so a test also passes
 * against a server that already ran it (codes and user names are unique).
 */
export function runSuffix() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** url resolves a path against the center (an absolute URL is kept). */
export const url = (path) => new URL(path, BASE).href;

/** pathOf is the path of the page's current URL. */
export const pathOf = (p) => new URL(p.url()).pathname;

// ---- ordered steps ----------------------------------------------------------

/**
 * steps makes the step() of one test file. A step is one node:test test;
 * the steps of a file share their browser and pages and run in order, so
 * once one fails the later ones are skipped (they depend on it). On a
 * failure every watched page still open is saved as
 * FAIL-<tag>-<step>[-<n>].png and every watched site node's log tail is
 * printed.
 *
 *   watch(page)  screenshot this page on failure (returns it)
 *   watch(node)  print this site node's log tail on failure (returns it)
 */
export function steps(tag) {
  let failed = '';
  const pages = new Set();
  const nodes = new Set();

  function watch(x) {
    if (x && typeof x.screenshot === 'function') pages.add(x);
    else if (x) nodes.add(x);
    return x;
  }

  async function onFailure(name) {
    const open = [...pages].filter((p) => !p.isClosed());
    const base = `FAIL-${tag}-${name.replace(/[^\w-]+/g, '_')}`;
    await Promise.all(open.map((p, i) =>
      p.screenshot({ path: join(SHOTS, `${base}${open.length > 1 ? `-${i}` : ''}.png`), fullPage: true }).catch(() => {})));
    for (const n of nodes) {
      console.error(`---- site node ${n.name} log (tail) ----\n${n.log.split('\n').slice(-30).join('\n')}`);
    }
  }

  function step(name, fn) {
    it(name, async (t) => {
      if (failed) {
        t.skip(`skipped: "${failed}" failed`);
        return;
      }
      try {
        await fn();
      } catch (err) {
        failed = name;
        await onFailure(name);
        throw err;
      }
    });
  }

  return { step, watch };
}

// ---- Chromium -----------------------------------------------------------------

// BROWSER_ARGS: no sandbox (containers, root), no GPU, nothing fetched in
// the background, and media may start without a user gesture (so a check
// does not depend on Chromium's autoplay heuristics).
const BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'];

/**
 * browserArgs are the Chromium flags; with microphone (a WAV file) the
 * browser has a fake microphone that plays that file (in a loop) and grants
 * access without asking.
 */
function browserArgs(microphone) {
  if (!microphone) return BROWSER_ARGS;
  return [...BROWSER_ARGS, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${microphone}`];
}

/** launchBrowser starts headless Chromium; options: microphone (a WAV). */
export function launchBrowser({ microphone } = {}) {
  return chromium.launch({ executablePath: CHROMIUM, args: browserArgs(microphone) });
}

// The options of every context: Chinese, China Standard Time.
const CONTEXT = { locale: 'zh-CN', timezoneId: 'Asia/Shanghai' };

function setUp(ctx, acceptDialogs) {
  ctx.setDefaultTimeout(TIMEOUT);
  ctx.setDefaultNavigationTimeout(TIMEOUT);
  // confirm() on a form (data-confirm) says yes; without this Playwright
  // dismisses every dialog.
  if (acceptDialogs) ctx.on('dialog', (d) => d.accept().catch(() => {}));
  return ctx;
}

/**
 * newContext opens a browser context (its own cookies) in Chinese at the
 * DESKTOP viewport unless told otherwise. Options: acceptDialogs, and any
 * of Playwright's context options (viewport, isMobile, storageState…).
 */
export async function newContext(browser, { acceptDialogs = false, ...options } = {}) {
  return setUp(await browser.newContext({ viewport: DESKTOP, ...CONTEXT, ...options }), acceptDialogs);
}

/**
 * launchPersistent starts Chromium with a profile folder that outlives it,
 * as a room PC's browser: closing the context and launching it again with
 * the same profile keeps the site's storage. Options: microphone (a WAV),
 * viewport, acceptDialogs.
 */
export async function launchPersistent(profile, { microphone, viewport = DESKTOP, acceptDialogs = false } = {}) {
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, args: browserArgs(microphone), viewport, ...CONTEXT,
  });
  return setUp(ctx, acceptDialogs);
}

/**
 * killPersistent kills the browser of a persistent context (launched on
 * profile) with SIGKILL, as a PC that loses power: nothing is flushed or
 * closed politely, the profile keeps only what was already on disk. It
 * resolves once Playwright has seen the context go.
 */
export async function killPersistent(ctx, profile) {
  // The browser process is the one started with this profile and no
  // --type= (renderers, GPU and utility processes carry one).
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    let args;
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return false;
    }
    return args.includes(`--user-data-dir=${profile}`) && !args.some((a) => a.startsWith('--type='));
  });
  assert.equal(pids.length, 1, `one browser process runs on ${profile} (found ${pids.join(', ') || 'none'})`);
  const gone = new Promise((r) => ctx.once('close', r));
  process.kill(Number(pids[0]), 'SIGKILL');
  await gone;
}

/** firstPage is the page a persistent context opened with, or a new one. */
export async function firstPage(ctx) {
  return ctx.pages()[0] || ctx.newPage();
}

/** shot saves a screenshot of the page (the whole page unless fullPage: false). */
export async function shot(p, file, { fullPage = true } = {}) {
  await p.screenshot({ path: join(SHOTS, file), fullPage });
}

// ---- navigation and forms ------------------------------------------------------

/**
 * go loads path (on the center, or an absolute URL), waits for the load
 * event and returns the main response.
 */
export async function go(p, path) {
  const res = await p.goto(url(path), { waitUntil: 'load' });
  assert.ok(res, `no response for ${path}`);
  return res;
}

/** follow clicks a link or button and waits for the page it leads to. */
export async function follow(locator) {
  await Promise.all([
    locator.page().waitForNavigation({ waitUntil: 'load' }),
    locator.click(),
  ]);
}

/**
 * submit clicks the form's submit button (there must be exactly one) and
 * waits for the page it leads to.
 */
export async function submit(form) {
  await follow(form.locator('button[type="submit"]'));
}

/**
 * signIn signs in on the center's login page and fails unless it lets the
 * user in. With newPassword, a first sign-in that lands on the forced
 * password change sets that password.
 */
export async function signIn(p, username, password = DEMO_PASSWORD, { newPassword } = {}) {
  await go(p, '/login');
  const form = p.locator('form[action="/login"]');
  await form.locator('#username').fill(username);
  await form.locator('#password').fill(password);
  await submit(form);
  assert.notEqual(pathOf(p), '/login', `${username} is signed in (at ${p.url()})`);
  if (newPassword && pathOf(p) === '/account/password') {
    const pf = p.locator('form[action="/account/password"]');
    await pf.locator('#old_password').fill(password);
    await pf.locator('#password').fill(newPassword);
    await pf.locator('#password2').fill(newPassword);
    await submit(pf);
    assert.notEqual(pathOf(p), '/account/password', `${username} changed the initial password`);
  }
}

/**
 * consoleSignIn signs a proctor in on a site node's console (nodeURL) and
 * fails unless the console opens.
 */
export async function consoleSignIn(p, nodeURL, username, password) {
  await go(p, nodeURL + '/console');
  const form = p.locator('form[action="/console/login"]');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await submit(form);
  assert.equal(pathOf(p), '/console', `${username} is signed in on the console (at ${p.url()})`);
}

// ---- waiting ------------------------------------------------------------------

/**
 * until calls fn every everyMs until it returns something truthy, which it
 * returns; after timeoutMs it fails naming what it waited for.
 */
export async function until(what, fn, timeoutMs = 60_000, everyMs = 500) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---- the JSON API ---------------------------------------------------------------

/**
 * api calls the center's JSON API with a bearer token and returns the
 * decoded answer; an answer other than 2xx fails with its body.
 */
export async function api(method, path, body, token) {
  const res = await fetch(url(path), {
    method,
    headers: { Authorization: 'Bearer ' + token, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// ---- the fake microphone's voice --------------------------------------------------

/**
 * speechWav has espeak-ng (US English, speed words per minute, its default
 * unless given) say text and sox convert it to 16 kHz mono 16-bit PCM, the
 * exam client's recording format; it returns the file (in dir).
 */
export function speechWav(dir, text, { speed } = {}) {
  const raw = join(dir, 'speech-raw.wav');
  const wav = join(dir, 'speech.wav');
  execFileSync('espeak-ng', ['-v', 'en-us', ...(speed ? ['-s', String(speed)] : []), '-w', raw, text]);
  execFileSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', wav]);
  return wav;
}

// ---- site nodes -------------------------------------------------------------------

/**
 * startSiteNode runs `jnedu site <args…>` (JNEDU_BIN) as its own process;
 * args must include `--listen 127.0.0.1:0`: the kernel picks the port and
 * the node prints its address, which is read from its output. It resolves
 * to { name, proc, url, log, stop } once the address is known; log grows
 * with the node's stderr; stop() ends the process and waits for it.
 */
export function startSiteNode(name, args, { timeoutMs = 30_000 } = {}) {
  requireEnv('JNEDU_BIN');
  const n = { name, log: '' };
  n.proc = spawn(BIN, ['site', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  n.proc.stderr.on('data', (d) => { n.log += d; });
  n.stop = async () => {
    if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
    const exited = new Promise((r) => n.proc.once('exit', r));
    n.proc.kill('SIGTERM');
    // A node that does not stop within 10 s is killed.
    const kill = setTimeout(() => n.proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      n.proc.kill('SIGKILL');
      reject(new Error(`site node ${name} did not start within ${timeoutMs / 1000}s: ${n.log}`));
    }, timeoutMs);
    n.proc.stdout.on('data', (d) => {
      if (n.url) return;
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:\d+/);
      if (m) {
        clearTimeout(timer);
        n.url = m[0];
        resolve(n);
      }
    });
    n.proc.on('error', (err) => { clearTimeout(timer); reject(new Error(`site node ${name}: ${err.message}`)); });
    n.proc.on('exit', (c) => { clearTimeout(timer); reject(new Error(`site node ${name} exited ${c}: ${n.log}`)); });
  });
}
