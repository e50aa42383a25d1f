// Browser walk through the exam site node: a site node is started on a
// package folder made by e2e/examfixture (its sealed code typed with
// `jnedu site key`), a proctor starts the room on the console, and a
// candidate in headless Chromium with a fake microphone (a WAV spoken by
// espeak-ng, 16 kHz 16-bit) signs in, confirms, passes the device check and
// answers: the site node is cut off in the middle of a recording and comes
// back; the browser is closed in the middle of the last item and reopened
// with the same profile, and the candidate continues. Last, the site node's
// stored recordings have the expected length and are not silent.
// Run through e2e/run, which builds jnedu and examfixture (JNEDU_BIN,
// JNEDU_EXAMFIXTURE).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.JNEDU_BIN;
const FIXTURE = process.env.JNEDU_EXAMFIXTURE;
const SHOTS = process.env.JNEDU_SCREENSHOTS || new URL('./screenshots', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ANSWER_SEC = 6;
if (!BIN || !FIXTURE) throw new Error('JNEDU_BIN / JNEDU_EXAMFIXTURE are not set: run the tests with e2e/run');
mkdirSync(SHOTS, { recursive: true });

let tmp, data, fx, base, node, nodeLog = '';
let context, page, consoleBrowser, consolePage;
let failed = '';

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
      await page?.screenshot({ path: join(SHOTS, `FAIL-exam-site-${name.replace(/[^\w-]+/g, '_')}.png`), fullPage: true }).catch(() => {});
      if (nodeLog) console.error('---- site node log (tail) ----\n' + nodeLog.split('\n').slice(-30).join('\n'));
      throw err;
    }
  });
}

function launchCandidate(profile, wav) {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`,
      '--autoplay-policy=no-user-gesture-required', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
    viewport: { width: 1280, height: 800 },
    locale: 'zh-CN',
  });
}

// rms of a 16-bit PCM WAV's samples (after the 44-byte header).
function wavStats(path) {
  const b = readFileSync(path);
  const n = (b.length - 44) / 2;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = b.readInt16LE(44 + 2 * i);
    sum += v * v;
  }
  return { ms: (n / 16000) * 1000, rms: Math.sqrt(sum / Math.max(1, n)) };
}

describe('exam site node: candidate answers through an outage and a browser restart', { timeout: 240_000 }, () => {
  let wav, profile;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'jnedu-exam-e2e-'));
    data = join(tmp, 'site');
    profile = join(tmp, 'profile');
    // The candidate's voice: espeak-ng, converted to 16 kHz mono 16-bit.
    const raw = join(tmp, 'raw.wav');
    wav = join(tmp, 'speech.wav');
    execFileSync('espeak-ng', ['-v', 'en-us', '-s', '130', '-w', raw,
      'Good morning. My name is Li Hua. I like reading books and playing football with my friends after school.']);
    execFileSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', wav]);
    fx = JSON.parse(execFileSync(FIXTURE, ['-out', join(tmp, 'pkg'), '-answer-sec', String(ANSWER_SEC), '-prep-sec', '1', '-spoken', '2']).toString());
    execFileSync(BIN, ['site', 'load', join(tmp, 'pkg'), '--site', fx.site, '--data', data]);
    // The chief types the sealed code from the envelope.
    execFileSync(BIN, ['site', 'key', '--session', fx.session, '--data', data], { input: fx.code + '\n' });
    node = spawn(BIN, ['site', '--data', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    node.stderr.on('data', (d) => { nodeLog += d; });
    base = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('the site node did not start: ' + nodeLog)), 20_000);
      node.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/http:\/\/127\.0\.0\.1:\d+/);
        if (m) { clearTimeout(timer); resolve(m[0]); }
      });
      node.on('exit', (c) => reject(new Error('the site node exited ' + c + ': ' + nodeLog)));
    });
  });
  after(async () => {
    await context?.close().catch(() => {});
    await consoleBrowser?.close().catch(() => {});
    if (node && node.exitCode === null) node.kill('SIGTERM');
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  step('the proctor signs in to the console and starts the room', async () => {
    consoleBrowser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-background-networking', '--no-first-run'] });
    consolePage = await consoleBrowser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN' });
    await consolePage.goto(base + '/console');
    await consolePage.fill('input[name=username]', 'chief');
    await consolePage.fill('input[name=password]', fx.password);
    await consolePage.click('button[type=submit]');
    await consolePage.getByText('试卷已解密').waitFor();
    await consolePage.getByRole('button', { name: '开考' }).click();
    await consolePage.getByText('考试中').first().waitFor();
    await consolePage.screenshot({ path: join(SHOTS, 'exam-site-console.png'), fullPage: true });
  });

  step('a wrong admission number is refused clearly', async () => {
    context = await launchCandidate(profile, wav);
    page = context.pages()[0] || await context.newPage();
    await page.goto(base + '/');
    await page.fill('#number', '2027999999');
    await page.click('#signin-btn');
    await page.getByText('准考证号不存在').waitFor();
  });

  step('the candidate signs in, confirms, and passes the device check', async () => {
    await page.fill('#number', fx.numbers[0]);
    await page.click('#signin-btn');
    await page.locator('#c-name').getByText('考生01').waitFor();
    await page.screenshot({ path: join(SHOTS, 'exam-site-confirm.png') });
    await page.click('#confirm-btn');
    await page.click('#device-start');
    await page.locator('#device-ask').waitFor({ state: 'visible', timeout: 20_000 });
    await page.click('#device-ok');
  });

  step('the objective item is answered', async () => {
    await page.locator('#options button').nth(1).click({ timeout: 20_000 });
    await page.locator('#item-title, #progress').getByText('第 2 题').waitFor({ timeout: 20_000 });
  });

  step('the site node is unreachable during the recording and comes back', async () => {
    await page.getByText('请作答（录音中）').waitFor({ timeout: 20_000 });
    await page.waitForTimeout(1200);
    await context.route('**/client/api/**', (r) => r.abort('connectionrefused'));
    await page.locator('#net.down').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(SHOTS, 'exam-site-offline.png') });
    await page.waitForTimeout(2500);
    await context.unroute('**/client/api/**');
    await page.locator('#net.ok').waitFor({ timeout: 20_000 });
  });

  step('the browser closes in the middle of the last item and the candidate continues', async () => {
    await page.locator('#progress').getByText('第 3 题').waitFor({ timeout: 30_000 });
    await page.getByText('请作答（录音中）').waitFor({ timeout: 20_000 });
    await page.waitForTimeout(3000);
    await context.close(); // the room PC's browser crashes
    context = await launchCandidate(profile, wav);
    page = context.pages()[0] || await context.newPage();
    await page.goto(base + '/');
    await page.click('#resume-btn', { timeout: 20_000 });
    await page.getByText('请作答（录音中）').waitFor({ timeout: 20_000 });
    await page.locator('#s-done').waitFor({ state: 'visible', timeout: 30_000 });
    await page.locator('#pending').getByText('全部上传完成').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(SHOTS, 'exam-site-done.png') });
  });

  step('the site node stored both recordings at their length, with speech', async () => {
    const attempts = readdirSync(join(data, 'answers'));
    assert.equal(attempts.length, 1, 'one candidate recorded');
    const s1 = wavStats(join(data, 'answers', attempts[0], 's2i1.wav'));
    const s2 = wavStats(join(data, 'answers', attempts[0], 's2i2.wav'));
    // s2i1 ran its whole answer time through the outage; s2i2 lost at most
    // the partial second that was not yet stored when the browser closed.
    assert.ok(s1.ms >= (ANSWER_SEC - 1) * 1000 && s1.ms <= (ANSWER_SEC + 1) * 1000, `s2i1 is ${s1.ms} ms`);
    assert.ok(s2.ms >= (ANSWER_SEC - 2) * 1000 && s2.ms <= ANSWER_SEC * 1000 + 500, `s2i2 is ${s2.ms} ms`);
    console.log(`recordings: s2i1 ${Math.round(s1.ms)} ms rms ${Math.round(s1.rms)}; s2i2 ${Math.round(s2.ms)} ms rms ${Math.round(s2.rms)}`);
    assert.ok(s1.rms > 200, `s2i1 rms ${s1.rms}`);
    assert.ok(s2.rms > 200, `s2i2 rms ${s2.rms}`);
    await consolePage.reload();
    await consolePage.locator('.seat[data-state="finished"]').first().waitFor({ timeout: 10_000 });
    await consolePage.screenshot({ path: join(SHOTS, 'exam-site-console-finished.png'), fullPage: true });
  });
});
