// Browser walk through the exam site node: a site node is started on a
// package folder made by e2e/examfixture (its sealed code typed with
// `jnedu site key`), a proctor starts the room on the console, and a
// candidate in headless Chromium with a fake microphone (a WAV spoken by
// espeak-ng, 16 kHz 16-bit) signs in, confirms, passes the device check and
// answers: the site node is cut off in the middle of a recording and comes
// back; the browser is closed in the middle of the last item and reopened
// with the same profile, and the candidate continues; the site node's stored
// recordings have the expected length and are not silent. Then a second
// candidate's PC dies in the middle of a spoken answer (the network first,
// so recorded chunks wait unacknowledged in its IndexedDB, then the browser
// is killed); the proctor moves the candidate to a spare seat in the
// console's dialog, a new PC (a fresh profile) signs in, confirms and
// continues the same item with the time that was left; the dead PC, back
// on, is refused; the recordings hold exactly the acknowledged chunks of
// both PCs in order, and the end-of-session check and the signed answer
// manifest record the move.
// Run through e2e/run, which builds jnedu and examfixture (JNEDU_BIN,
// JNEDU_EXAMFIXTURE).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BIN, FIXTURE, consoleSignIn, firstPage, go, killPersistent, launchBrowser, launchPersistent, newContext, requireEnv, shot,
  speechWav, startSiteNode, steps, until,
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

// The second candidate's PCs: the one that dies (pc1) and the spare seat's
// (pc2), and what the site node answered each of them.
const spare = {
  contexts: [],
  acked: { pc1: new Map(), pc2: new Map() }, // "item/seq" → SHA-256 of each chunk answered 200
  closes: new Map(), // item → the chunk count of its close, answered 200
  beats: { pc1: [], pc2: [] }, // heartbeats answered 200
  statuses: [], // { pc, method, path, status } of every client API answer
};

// track records what the site node answers a candidate page.
function track(p, pc) {
  p.on('response', (res) => {
    const u = new URL(res.url());
    if (!u.pathname.startsWith('/client/api/')) return;
    const req = res.request();
    spare.statuses.push({ pc, method: req.method(), path: u.pathname, status: res.status() });
    if (res.status() !== 200) return;
    const chunk = u.pathname.match(/\/items\/([^/]+)\/chunks\/(\d+)$/);
    if (chunk) spare.acked[pc].set(`${chunk[1]}/${chunk[2]}`, req.headers()['x-chunk-sha256']);
    const close = u.pathname.match(/\/items\/([^/]+)\/close$/);
    if (close) spare.closes.set(close[1], JSON.parse(req.postData()).chunks);
    if (u.pathname.endsWith('/heartbeat')) spare.beats[pc].push(JSON.parse(req.postData() || '{}'));
  });
}

// outbox lists the client's IndexedDB outbox (what is not acknowledged yet).
function outbox(p) {
  return p.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('jnedu-exam', 1);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const out = [];
      const cur = open.result.transaction('outbox').objectStore('outbox').openCursor();
      cur.onerror = () => reject(cur.error);
      cur.onsuccess = () => {
        const c = cur.result;
        if (!c) { open.result.close(); resolve(out); return; }
        out.push({ kind: c.value.kind, item: c.value.item, seq: c.value.seq });
        c.continue();
      };
    };
  }));
}

// seqsOf is the sequence numbers of item in an "item/seq" map, in order.
const seqsOf = (m, item) => [...m.keys()].filter((k) => k.startsWith(item + '/')).map((k) => Number(k.split('/')[1])).sort((a, b) => a - b);

// wavChunks checks that a stored recording is exactly the chunks of
// item 0…count-1 in order (each 1 s = 32000 bytes, the last may be
// shorter), whose SHA-256 are in shaOf(seq).
function wavChunks(path, count, shaOf) {
  const data = readFileSync(path).subarray(44);
  let off = 0;
  for (let seq = 0; seq < count; seq++) {
    const want = shaOf(seq);
    assert.ok(want, `chunk ${seq} of ${path} was acknowledged`);
    const len = seq === count - 1 ? data.length - off : 32000;
    const got = createHash('sha256').update(data.subarray(off, off + len)).digest('hex');
    assert.equal(got, want, `chunk ${seq} of ${path} holds the acknowledged bytes`);
    off += len;
  }
  assert.equal(off, data.length, `${path} holds nothing but its ${count} chunks`);
  return (data.length / 32000) * 1000; // ms
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

describe('exam site node: candidates answer through an outage, a browser restart and a move to a spare seat', { timeout: 420_000 }, () => {
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
    for (const c of spare.contexts) await c.close().catch(() => {});
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

  // ---- a PC dies in the middle of a spoken answer: a spare seat ------------

  const number2 = () => fx.numbers[1]; // seat 2
  const REASON = '电脑死机，换备用机';
  let pc1, pc1Page, pc2, pc2Page, auth1, k, pending1, view2;

  step('a second candidate signs in on seat 2 and answers the first two items', async () => {
    spare.profile1 = join(tmp, 'profile-seat2');
    pc1 = await launchPersistent(spare.profile1, { microphone: wav });
    spare.contexts.push(pc1);
    pc1Page = watch(await firstPage(pc1));
    track(pc1Page, 'pc1');
    await go(pc1Page, base + '/');
    await pc1Page.fill('#number', number2());
    await pc1Page.click('#signin-btn');
    await pc1Page.locator('#c-seat').getByText('01 / 2').waitFor();
    await pc1Page.click('#confirm-btn');
    await pc1Page.click('#device-start');
    await pc1Page.locator('#device-ask').waitFor({ state: 'visible', timeout: 20_000 });
    await pc1Page.click('#device-ok');
    await pc1Page.locator('#options button').nth(1).click({ timeout: 20_000 });
    await pc1Page.locator('#progress').getByText('第 3 题').waitFor({ timeout: 40_000 });
    auth1 = JSON.parse(await pc1Page.evaluate(() => localStorage.getItem('jnedu.exam.auth')));
    assert.ok(auth1 && auth1.attempt && auth1.token, 'the page keeps its attempt and token');
  });

  step('in the middle of the last answer the network drops, then the PC dies', async () => {
    await pc1Page.getByText('请作答（录音中）').waitFor({ timeout: 20_000 });
    // Two seconds of the answer reach the site node…
    await until('two acknowledged chunks of s2i2', () => spare.acked.pc1.has('s2i2/1'), 15_000, 100);
    await pc1.route('**/client/api/**', (r) => r.abort('connectionrefused'));
    // …what follows waits in the browser's outbox, and is lost with the PC.
    pending1 = await until('a chunk of s2i2 waiting in the outbox',
      async () => { const o = (await outbox(pc1Page)).filter((r) => r.kind === 'chunk' && r.item === 's2i2'); return o.length ? o : null; },
      15_000, 100);
    await killPersistent(pc1, spare.profile1);
    k = seqsOf(spare.acked.pc1, 's2i2').length;
    assert.deepEqual(seqsOf(spare.acked.pc1, 's2i2'), [...Array(k).keys()], 'acknowledged chunks 0…k-1');
    assert.ok(k >= 2, `${k} chunks acknowledged before the outage`);
    assert.equal(pending1[0].seq, k, 'the outbox goes on from the last acknowledged chunk');
    assert.ok(spare.closes.has('s2i1') && !spare.closes.has('s2i2'), 's2i1 closed before the failure, s2i2 not');
  });

  step('the proctor moves the candidate to a spare seat in the console', async () => {
    const seat = consolePage.locator(`.seat[data-number="${number2()}"]`);
    // No heartbeat for a while: the seat shows the PC as disconnected.
    await consolePage.locator(`.seat[data-number="${number2()}"][data-state="disconnected"]`).waitFor({ timeout: 30_000 });
    await seat.getByRole('button', { name: '换机续考' }).click();
    const dlg = consolePage.locator('#move-dlg');
    await dlg.waitFor({ state: 'visible' });
    // The free seats are offered, the spare ones first.
    const offered = await dlg.locator('#move-seat option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(offered, ['5', '6'], 'the free spare seats are offered');
    assert.equal(await dlg.locator('#move-seat').inputValue(), '5');
    // A reason is required.
    await dlg.getByRole('button', { name: '确认换机' }).click();
    assert.equal(await dlg.locator('#move-reason').evaluate((e) => e.validity.valueMissing), true, 'no move without a reason');
    assert.equal(await dlg.isVisible(), true);
    await dlg.locator('#move-reason').fill(REASON);
    await shot(consolePage, 'exam-site-console-move.png');
    await dlg.getByRole('button', { name: '确认换机' }).click();
    await dlg.waitFor({ state: 'hidden' });
    await consolePage.locator(`.seat[data-seat="5"][data-number="${number2()}"]`).waitFor({ timeout: 10_000 });
    assert.equal(await consolePage.locator(`.seat[data-seat="2"]`).getAttribute('data-number'), '', 'seat 2 is free');
  });

  step('a new PC on seat 5 signs in, confirms and continues the same item with the time that was left', async () => {
    const profile2 = join(tmp, 'profile-seat5');
    pc2 = await launchPersistent(profile2, { microphone: wav });
    spare.contexts.push(pc2);
    pc2Page = watch(await firstPage(pc2));
    track(pc2Page, 'pc2');
    await go(pc2Page, base + '/');
    const device2 = await pc2Page.evaluate(() => localStorage.getItem('jnedu.exam.device'));
    assert.ok(device2, 'the new PC has a device id');
    await pc2Page.fill('#number', number2());
    const viewRes = pc2Page.waitForResponse((r) => r.request().method() === 'GET' && r.url().endsWith('/client/api/attempts/' + auth1.attempt));
    await pc2Page.click('#signin-btn');
    view2 = await (await viewRes).json();
    const auth2 = JSON.parse(await pc2Page.evaluate(() => localStorage.getItem('jnedu.exam.auth')));
    assert.equal(auth2.attempt, auth1.attempt, 'the same attempt is taken over');
    assert.notEqual(auth2.token, auth1.token);
    assert.equal(view2.item, 's2i2', 'the attempt stands at the item that was interrupted');
    assert.equal(view2.attempt.phase, 'answer');
    assert.equal(view2.items.s2i2.next_seq, k, 'the site node holds the k acknowledged chunks');
    assert.equal(view2.items.s2i1.state, 'closed');
    // The time left is no more than the last heartbeat said, nor than the
    // answer time less what was stored.
    const lastBeat = spare.beats.pc1.filter((b) => b.item === 's2i2' && b.phase === 'answer').at(-1);
    assert.ok(lastBeat, 'pc1 reported the answer phase');
    const left = view2.attempt.remaining_ms;
    assert.ok(left > 0 && left <= lastBeat.remaining_ms && left <= (ANSWER_SEC - k) * 1000,
      `remaining ${left} ms (last beat ${lastBeat.remaining_ms} ms, ${k} s stored)`);
    // The candidate checks the details and the new seat, then continues.
    await pc2Page.locator('#c-seat').getByText('01 / 5').waitFor();
    await pc2Page.locator('#c-name').getByText('考生02').waitFor();
    await shot(pc2Page, 'exam-site-spare-confirm.png', { fullPage: false });
    await pc2Page.click('#confirm-btn');
    await pc2Page.click('#resume-btn', { timeout: 20_000 });
    await pc2Page.locator('#progress').getByText('第 3 题').waitFor({ timeout: 20_000 });
    await pc2Page.getByText('请作答（录音中）').waitFor({ timeout: 20_000 });
    const shown = await until('the countdown', async () => {
      const m = (await pc2Page.locator('#countdown').textContent()).match(/\d+/);
      return m && Number(m[0]) + 1; // +1: a countdown at 0 is a number too
    }, 10_000, 50) - 1;
    assert.ok(shown <= Math.ceil(left / 1000), `the countdown shows ${shown} s of ${left} ms left`);
    await pc2Page.locator('#s-done').waitFor({ state: 'visible', timeout: 30_000 });
    await pc2Page.locator('#pending').getByText('全部上传完成').waitFor({ timeout: 30_000 });
    for (const b of spare.beats.pc2.filter((b) => b.item === 's2i2' && b.phase === 'answer')) {
      assert.ok(b.remaining_ms <= left, `a heartbeat of the new PC says ${b.remaining_ms} ms, more than the ${left} ms left`);
    }
    await consolePage.locator(`.seat[data-seat="5"][data-number="${number2()}"][data-state="finished"]`).waitFor({ timeout: 10_000 });
  });

  step('the dead PC comes back on: its token is refused and its queued chunks go nowhere', async () => {
    const back = await launchPersistent(spare.profile1, { microphone: wav });
    spare.contexts.push(back);
    const p = watch(await firstPage(back));
    track(p, 'pc1-back');
    await go(p, base + '/');
    await p.getByText('本考生已在其他座位继续考试').waitFor({ timeout: 20_000 });
    await until('the old PC sending its chunks again', () => spare.statuses.some((s) => s.pc === 'pc1-back' &&
      s.method === 'PUT' && s.path.includes('/items/s2i2/chunks/')), 20_000, 100);
    // What was queued when the PC died is still there (and, after it, what
    // was recorded in the moment before the kill), numbered from k on.
    const left = (await outbox(p)).filter((r) => r.kind === 'chunk' && r.item === 's2i2').map((r) => r.seq);
    assert.deepEqual(left.slice(0, pending1.length), pending1.map((r) => r.seq), 'the unacknowledged chunks stayed in the dead PC');
    assert.deepEqual(left, Array.from({ length: left.length }, (_, i) => k + i));
    const answers = spare.statuses.filter((s) => s.pc === 'pc1-back' && s.path.startsWith('/client/api/attempts/'));
    assert.ok(answers.every((s) => s.status === 403), `every call with the old token is refused: ${JSON.stringify(answers)}`);
    const res = await fetch(`${base}/client/api/attempts/${auth1.attempt}`, { headers: { Authorization: 'Bearer ' + auth1.token } });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error.code, 'exam.site.not_your_attempt');
    await back.close();
    assert.deepEqual(spare.statuses.filter((s) => s.status === 409), [], 'no 409 on any PC');
  });

  step('the recordings hold the acknowledged chunks of both PCs in order', async () => {
    const dir = join(data, 'answers', auth1.attempt);
    // s2i1, finished on seat 2 before the failure: complete.
    const n1 = spare.closes.get('s2i1');
    const ms1 = wavChunks(join(dir, 's2i1.wav'), n1, (seq) => spare.acked.pc1.get(`s2i1/${seq}`));
    assert.ok(ms1 >= (ANSWER_SEC - 1) * 1000 && ms1 <= (ANSWER_SEC + 1) * 1000, `s2i1 is ${ms1} ms`);
    // s2i2: chunks 0…k-1 from seat 2, k… from seat 5, nothing twice.
    const n2 = spare.closes.get('s2i2');
    const seats5 = seqsOf(spare.acked.pc2, 's2i2');
    assert.deepEqual(seats5, Array.from({ length: n2 - k }, (_, i) => k + i), 'the new PC numbered its chunks on from k');
    assert.ok(seats5.length >= 1, 'the new PC recorded');
    const ms2 = wavChunks(join(dir, 's2i2.wav'), n2,
      (seq) => (seq < k ? spare.acked.pc1 : spare.acked.pc2).get(`s2i2/${seq}`));
    // The answer time did not grow back: no more than the item's time.
    assert.ok(ms2 <= ANSWER_SEC * 1000 + 500, `s2i2 is ${ms2} ms`);
    assert.ok(ms2 >= k * 1000 + view2.attempt.remaining_ms - 1500, `s2i2 is ${ms2} ms, ${k} s + ${view2.attempt.remaining_ms} ms`);
    console.log(`spare seat: ${k} chunks stored before the failure, ${pending1.length} lost with the PC, ${seats5.length} from the spare seat; s2i2 ${Math.round(ms2)} ms`);
  });

  step('the end-of-session check and the signed answer manifest record the move', async () => {
    consolePage.once('dialog', (d) => d.accept());
    await consolePage.getByRole('button', { name: '结束本场次并上传' }).click();
    await consolePage.getByText('答题数据上传中').first().waitFor({ timeout: 10_000 });
    await consolePage.getByRole('button', { name: '场次结束核查' }).click();
    const row = consolePage.locator(`table.moves tr[data-number="${number2()}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.fromto').textContent(), '01 座位 2 → 5');
    assert.equal(await row.locator('.item').textContent(), '题 s2i2');
    assert.equal(await row.locator('.reason').textContent(), REASON);
    await shot(consolePage, 'exam-site-check-move.png');

    const out = join(tmp, 'export');
    execFileSync(BIN, ['site', 'export', '--session', fx.session, '--out', out, '--data', data]);
    const m = JSON.parse(readFileSync(join(out, 'signed.json'))).manifest;
    const c = m.candidates.find((x) => x.number === number2());
    assert.equal(c.status, 'finished');
    assert.equal(c.seat, 5, 'finished on seat 5');
    assert.equal(c.moves.length, 1);
    assert.deepEqual({ from: c.moves[0].from, to: c.moves[0].to, item: c.moves[0].item, reason: c.moves[0].reason },
      { from: 2, to: 5, item: 's2i2', reason: REASON });
    const byItem = Object.fromEntries(c.answers.map((a) => [a.item, a]));
    assert.equal(byItem.s1i1.choice, 1);
    const dir = join(data, 'answers', auth1.attempt);
    for (const item of ['s2i1', 's2i2']) {
      const sum = createHash('sha256').update(readFileSync(join(dir, item + '.wav'))).digest('hex');
      assert.equal(byItem[item].recording, sum, `the manifest names ${item}'s stored recording`);
      assert.equal(byItem[item].chunks, spare.closes.get(item));
      assert.equal(readFileSync(join(out, 'files', sum)).length, readFileSync(join(dir, item + '.wav')).length);
    }
  });
});
