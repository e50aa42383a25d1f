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
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BIN, FIXTURE, consoleSignIn, firstPage, go, launchBrowser, launchPersistent, newContext, requireEnv, shot,
  speechWav, startSiteNode, steps,
} from './lib.mjs';

const ANSWER_SEC = 6;
requireEnv('JNEDU_BIN', 'JNEDU_EXAMFIXTURE');

let tmp, data, fx, base, node;
let context, page, consoleBrowser, consolePage;
const { step, watch } = steps('exam-site');

// The candidate's browser, with the fake microphone speaking wav.
async function launchCandidate(profile, wav) {
  context = await launchPersistent(profile, { microphone: wav });
  page = watch(await firstPage(context));
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
    wav = speechWav(tmp,
      'Good morning. My name is Li Hua. I like reading books and playing football with my friends after school.', { speed: 130 });
    fx = JSON.parse(execFileSync(FIXTURE, ['-out', join(tmp, 'pkg'), '-answer-sec', String(ANSWER_SEC), '-prep-sec', '1', '-spoken', '2']).toString());
    execFileSync(BIN, ['site', 'load', join(tmp, 'pkg'), '--site', fx.site, '--data', data]);
    // The chief types the sealed code from the envelope.
    execFileSync(BIN, ['site', 'key', '--session', fx.session, '--data', data], { input: fx.code + '\n' });
    node = watch(await startSiteNode(fx.site, ['--data', data, '--listen', '127.0.0.1:0']));
    base = node.url;
  });
  after(async () => {
    await context?.close().catch(() => {});
    await consoleBrowser?.close().catch(() => {});
    await node?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  step('the proctor signs in to the console and starts the room', async () => {
    consoleBrowser = await launchBrowser();
    consolePage = watch(await (await newContext(consoleBrowser, { viewport: { width: 1280, height: 900 } })).newPage());
    await consoleSignIn(consolePage, base, 'chief', fx.password);
    await consolePage.getByText('试卷已解密').waitFor();
    await consolePage.getByRole('button', { name: '开考' }).click();
    await consolePage.getByText('考试中').first().waitFor();
    await shot(consolePage, 'exam-site-console.png');
  });

  step('a wrong admission number is refused clearly', async () => {
    await launchCandidate(profile, wav);
    await go(page, base + '/');
    await page.fill('#number', '2027999999');
    await page.click('#signin-btn');
    await page.getByText('准考证号不存在').waitFor();
  });

  step('the candidate signs in, confirms, and passes the device check', async () => {
    await page.fill('#number', fx.numbers[0]);
    await page.click('#signin-btn');
    await page.locator('#c-name').getByText('考生01').waitFor();
    await shot(page, 'exam-site-confirm.png', { fullPage: false });
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
    await shot(page, 'exam-site-offline.png', { fullPage: false });
    await page.waitForTimeout(2500);
    await context.unroute('**/client/api/**');
    await page.locator('#net.ok').waitFor({ timeout: 20_000 });
  });

  step('the browser closes in the middle of the last item and the candidate continues', async () => {
    await page.locator('#progress').getByText('第 3 题').waitFor({ timeout: 30_000 });
    await page.getByText('请作答（录音中）').waitFor({ timeout: 20_000 });
    await page.waitForTimeout(3000);
    await context.close(); // the room PC's browser crashes
    await launchCandidate(profile, wav);
    await go(page, base + '/');
    await page.click('#resume-btn', { timeout: 20_000 });
    await page.getByText('请作答（录音中）').waitFor({ timeout: 20_000 });
    await page.locator('#s-done').waitFor({ state: 'visible', timeout: 30_000 });
    await page.locator('#pending').getByText('全部上传完成').waitFor({ timeout: 30_000 });
    await shot(page, 'exam-site-done.png', { fullPage: false });
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
    await shot(consolePage, 'exam-site-console-finished.png');
  });
});
