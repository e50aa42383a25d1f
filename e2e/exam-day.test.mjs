// The exam day end to end, across processes, on one machine: the center
// (`jnedu serve --demo`, started by e2e/run) and two site nodes
// (`jnedu site --center …`, started here), each its own process on
// loopback.
//
//  1. At the center, in Chromium: the administrator writes paper A in the
//     structured editor, synthesizes its audio and publishes it (variant B
//     comes in through the JSON API, as a question-bank tool would send it);
//     creates an exam with two sessions and one room at each of two sites,
//     imports the candidates (CSV) and their photos (zip), seats them and
//     opens the admission tickets; creates a chief proctor per site, who
//     signs in, sets a password and makes the API token of the site node.
//     Marking is set up: three examiner accounts, one of them leader, and
//     every spoken answer marked twice.
//  2. The site nodes register and download their packages; session 1's key
//     is released on the keys page.
//  3. Session 1: the chiefs start their rooms on the consoles; at each site
//     one candidate takes the exam in headless Chromium with a fake
//     microphone (a WAV spoken by espeak-ng) and two more are played by
//     `jnedu exam simulate`; the chiefs end the session and the nodes send
//     their signed answer packages on their own. Session 2 likewise, by
//     simulation, with one candidate marked absent.
//  4. The center's intake page shows each site's package complete.
//  5. Two examiners mark every spoken answer in the browser workspace with
//     the keyboard (the first opened it before any answer arrived: tasks
//     appear by themselves, nothing is reloaded); on one answer they are far
//     apart, the leader gives the third mark, still apart, and decides on
//     the leader page.
//  6. Results are released: a school sees its own candidates, a candidate
//     looks up their score with admission number and ID-card number, and
//     every total is the sum of its item scores.
//
// Run through e2e/run (JNEDU_BASE_URL, JNEDU_BIN).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BASE, BIN, DEMO_PASSWORD, api as apiAs, consoleSignIn, firstPage, go, launchBrowser, launchPersistent, newContext,
  pathOf, requireEnv, runSuffix, shot, signIn, speechWav, startSiteNode, steps, submit, until,
} from './lib.mjs';

const NEW_PASSWORD = 'Kaoshi2027day';
requireEnv('JNEDU_BASE_URL', 'JNEDU_BIN');

const suffix = runSuffix();
const EXAM = `E2E-DAY-${suffix.toUpperCase()}`;
const PAPER_A = `${EXAM}-A`;
const PAPER_B = `${EXAM}-B`;
const LW = 'E-LW01';
const GC = 'E-GC18';
const SCHOOL_1 = 'S-JN01'; // the demo school_admin's school
const SCHOOL_9 = 'S-JN09';
// Points of the authored paper: s1i1 (objective) 2, s2i1 (listen and
// answer) 2, s3i1 (imitate) 4.
const OBJ_POINTS = 2;

let tmp, wav, browser, adminToken, examID;
const nodes = {}; // site code → a started site node (startSiteNode) with its dir, chief and console
const chiefs = {}; // site code → {username, initial, token}
const { step, watch } = steps('exam-day');

// The candidates: 3 per site in session 1, 2 per site in session 2; the
// first of each site in session 1 takes the exam in Chromium; the second
// at Gangcheng in session 2 is absent.
const cands = [];
{
  const plan = [[LW, 'S1', 3], [GC, 'S1', 3], [LW, 'S2', 2], [GC, 'S2', 2]];
  const given = ['子涵', '欣怡', '浩然', '梓萱', '宇轩', '雨桐', '俊杰', '思琪', '一诺', '明轩'];
  let i = 0;
  for (const [site, session, n] of plan) {
    for (let k = 0; k < n; k++, i++) {
      cands.push({
        number: `2027${String(800001 + i)}`, name: '考生' + given[i], school: i % 2 === 0 ? SCHOOL_1 : SCHOOL_9,
        id: idNumber(i), site, session, photo: `p${i + 1}.png`,
        browser: session === 'S1' && k === 0, absent: session === 'S2' && site === GC && k === 1,
      });
    }
  }
}
const of = (site, session) => cands.filter((c) => c.site === site && c.session === session);

// idNumber makes a valid made-up ID-card number (born 2012).
function idNumber(i) {
  const body = `370102${2012}${String(1 + (i % 12)).padStart(2, '0')}${String(1 + (i % 28)).padStart(2, '0')}${String(500 + i)}`;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let sum = 0;
  for (let k = 0; k < 17; k++) sum += Number(body[k]) * w[k];
  return body + '10X98765432'[sum % 11];
}

// A person at the center in their own browser context; the first sign-in
// of a new account sets a new password.
async function person(username, password) {
  const ctx = await newContext(browser, { viewport: { width: 1280, height: 900 }, acceptDialogs: true });
  const p = watch(await ctx.newPage());
  await signIn(p, username, password, { newPassword: NEW_PASSWORD });
  return p;
}

// An API token made on the profile page (the secret is shown once).
async function makeToken(p, name) {
  await go(p, '/account/tokens');
  const form = p.locator('form[action="/account/tokens"]');
  await form.locator('#name').fill(name);
  await form.locator('input[name="scopes"][value="write"]').check();
  await submit(form);
  const secret = (await p.locator('[data-testid="token-secret"]').innerText()).trim();
  assert.match(secret, /^jn_/);
  return secret;
}

// The JSON API as the administrator (the token made in the first step).
const api = (method, path, body) => apiAs(method, path, body, adminToken);

// datetime-local value in China Standard Time.
const cst = (ms) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 16);

// A stored (uncompressed) zip of files, enough for the photo upload.
function zip(files) {
  const table = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc32 = (b) => {
    let c = -1;
    for (const x of b) c = table[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  };
  const locals = [], centrals = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nb = Buffer.from(name), crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(data.length, 18); lh.writeUInt32LE(data.length, 22); lh.writeUInt16LE(nb.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(data.length, 24); ch.writeUInt16LE(nb.length, 28); ch.writeUInt32LE(offset, 42);
    locals.push(lh, nb, data);
    centrals.push(ch, nb);
    offset += 30 + nb.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(files.length, 8); end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

// A site node process: registers, downloads its package, serves the exam
// client and the console on a free loopback port.
async function startNode(site, chief) {
  const dir = join(tmp, 'node-' + site);
  const n = watch(await startSiteNode(site, ['--center', BASE, '--site', site, '--token', chief.token, '--data', dir, '--listen', '127.0.0.1:0']));
  Object.assign(n, { site, dir, chief });
  nodes[site] = n;
  return n;
}

// One candidate takes the exam in Chromium: sign in, check the photo and
// name, device check, choose option 2 (the key) on the objective item and
// speak the two spoken items.
async function takeInBrowser(n, c) {
  const ctx = await launchPersistent(join(tmp, 'profile-' + c.number), { microphone: wav });
  try {
    const p = watch(await firstPage(ctx));
    await go(p, n.url + '/');
    await p.fill('#number', c.number);
    await p.click('#signin-btn');
    await p.locator('#c-name').getByText(c.name).waitFor({ timeout: 15_000 });
    await p.locator('#photo').waitFor({ state: 'visible' });
    assert.ok(await p.locator('#photo').evaluate((img) => img.complete && img.naturalWidth > 0), 'the candidate photo is shown');
    await shot(p, `exam-day-confirm-${c.site}.png`, { fullPage: false });
    await p.click('#confirm-btn');
    await p.click('#device-start');
    await p.locator('#device-ask').waitFor({ state: 'visible', timeout: 20_000 });
    await p.click('#device-ok');
    await p.locator('#options button').nth(1).click({ timeout: 30_000 });
    await p.locator('#progress').getByText('第 2 题').waitFor({ timeout: 20_000 });
    await p.getByText('请作答（录音中）').waitFor({ timeout: 30_000 });
    await p.locator('#s-done').waitFor({ state: 'visible', timeout: 90_000 });
    await p.locator('#pending').getByText('全部上传完成').waitFor({ timeout: 30_000 });
    await shot(p, `exam-day-done-${c.site}.png`, { fullPage: false });
  } finally {
    await ctx.close();
  }
}

// The other candidates are played by `jnedu exam simulate` (real HTTP);
// the chief's password lets it read back what the node stored.
function simulate(n, session, list) {
  return new Promise((resolve, reject) => {
    execFile(BIN, ['exam', 'simulate', '-site', n.url, '-session', session, '-proctor', n.chief.username, '-no-start',
      '-numbers', list.map((c) => c.number).join(','), '-seed', String(list.length + session.length)],
    { env: { ...process.env, JNEDU_PROCTOR_PASSWORD: NEW_PASSWORD }, timeout: 150_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`simulate at ${n.site}: ${err.message}\n${stderr}\n${stdout}`));
      resolve(JSON.parse(stdout));
    });
  });
}

function checkSimulation(rep, list) {
  assert.equal(rep.candidates, list.length, 'candidates simulated');
  assert.equal(rep.finished, list.length, 'candidates finished');
  assert.ok(rep.verified, 'the node read back what it stored');
  assert.equal(rep.spoken_answers_stored, 2 * list.length, 'spoken answers stored');
  assert.equal(rep.objective_answers_stored, list.length, 'objective answers stored');
  assert.equal(rep.chunks_lost, 0, 'no chunk lost');
}

// The chief's console of a site node.
async function openConsole(n) {
  const ctx = await newContext(browser, { viewport: { width: 1280, height: 900 }, acceptDialogs: true });
  const p = watch(await ctx.newPage());
  await consoleSignIn(p, n.url, n.chief.username, NEW_PASSWORD);
  await p.locator('#sessions .session').first().waitFor();
  n.console = p;
  return p;
}

const sessionRow = (n, s) => n.console.locator('#sessions .session', { has: n.console.locator('strong', { hasText: new RegExp('^' + s + ' ') }) });

async function startRoom(n, session) {
  const p = n.console;
  await sessionRow(n, session).getByText('试卷已解密').waitFor({ timeout: 30_000 });
  await p.locator('#roomtabs button', { hasText: session + ' · ' }).first().click();
  await p.locator('#room .roomhead').getByRole('button', { name: '开考' }).click();
  await p.locator('#room .roomstate').getByText('考试中').waitFor();
}

async function endSession(n, session, withShot) {
  const p = n.console;
  await sessionRow(n, session).getByRole('button', { name: '结束本场次并上传' }).click();
  // The node sends its signed package to the center on its own.
  await sessionRow(n, session).getByText('答题数据已全部送达').waitFor({ timeout: 60_000 });
  if (withShot) await shot(p, `exam-day-console-${n.site}-${session}.png`);
}

// What the workspace says while it waits for work.
const WAITING = '暂无待评任务，新任务到达时会自动显示';

// The SHA-256 of the recording of the task shown: the same answer has the
// same recording for every examiner, whatever order the tasks come in.
async function recordingOf(p) {
  const res = await p.context().request.get(BASE + (await p.locator('#audio').getAttribute('src')));
  assert.equal(res.status(), 200, 'the task\'s recording');
  return createHash('sha256').update(await res.body()).digest('hex');
}

// Marks count tasks in the open workspace p as they come: the workspace
// shows a new task by itself when one arrives, so nothing is reloaded.
// score(type, recording) gives the mark. Then the workspace waits again.
async function markAll(p, count, score) {
  const given = [];
  while (given.length < count) {
    await p.locator('#task').waitFor({ state: 'visible', timeout: 180_000 });
    const id = (await p.locator('#task-id').innerText()).trim();
    const type = (await p.locator('#task-type').innerText()).trim();
    const rec = await recordingOf(p);
    const v = score(type, rec);
    await p.keyboard.press(String(v));
    await p.locator(`#scores button[data-score="${v}"][aria-pressed="true"]`).waitFor();
    await p.keyboard.press('Enter');
    given.push({ type, score: v, rec });
    await until('the next task', async () =>
      !(await p.locator('#task').isVisible()) || (await p.locator('#task-id').innerText()).trim() !== id, 15_000, 50);
  }
  await p.locator('#status', { hasText: WAITING }).waitFor({ timeout: 15_000 });
  assert.equal(await p.locator('#task').isVisible(), false, 'no task shown while waiting');
  return given;
}

// Opens the workspace for examiner p.
async function workspace(p) {
  await go(p, `/exam/marking/${EXAM}/mark`);
  return p;
}

describe('exam day: center and two site nodes, candidates, double marking, results', { timeout: 600_000 }, () => {
  let admin;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'jnedu-examday-'));
    // The candidates' voice (16 kHz mono 16-bit), and their photos.
    wav = speechWav(tmp,
      'Tom usually goes to school by bike. Reading is a good way to learn. It opens a window to the world.', { speed: 140 });
    const colours = ['red', 'green', 'blue', 'orange', 'purple', 'teal', 'navy', 'olive', 'maroon', 'gray'];
    cands.forEach((c, i) => {
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colours[i]}:s=90x120`, '-frames:v', '1', join(tmp, c.photo)]);
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close().catch(() => {});
    await Promise.all(Object.values(nodes).map((n) => n.stop()));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  step('the administrator writes paper A in the editor, synthesizes its audio and publishes it', async () => {
    admin = await person('admin', DEMO_PASSWORD);
    adminToken = await makeToken(admin, 'exam-day tools');
    await go(admin, '/exam/papers');
    const form = admin.locator('form[action="/exam/papers"]');
    await form.locator('#code').fill(PAPER_A);
    await form.locator('#title').fill('端到端考试日 A卷');
    await form.locator('#variant').fill('A');
    await form.locator('#template').selectOption('example');
    await submit(form);
    const paperPath = pathOf(admin);
    assert.match(paperPath, /^\/exam\/papers\/\d+$/);
    // Keep the first three sections (choice, listen and answer, imitate).
    const sections = admin.locator('#editor > .ed-block.section');
    assert.equal(await sections.count(), 7);
    while (await sections.count() > 3) {
      await sections.nth(3).locator(':scope > .ed-head .ed-tools button').nth(2).click();
    }
    // No spoken introduction; short times.
    await admin.locator('#editor > details > summary').first().click();
    await admin.locator('#editor [data-path="intro.audio_text"]').fill('');
    const set = (path, v) => admin.locator(`#editor [data-path="${path}"]`).fill(String(v));
    await set('sections[0].items[0].plays', 1);
    await set('sections[0].items[0].prep_sec', 2);
    await set('sections[1].items[0].plays', 1);
    await set('sections[1].items[0].prep_sec', 1);
    await set('sections[1].items[0].answer_sec', 4);
    await set('sections[2].items[0].prep_sec', 1);
    await set('sections[2].items[0].answer_sec', 5);
    await submit(admin.locator('#paper-form'));
    assert.equal(await admin.locator('[data-testid="problems"]').count(), 0, 'the paper has no problems');
    await submit(admin.locator(`form[action="${paperPath}/synthesize"]`));
    assert.match(admin.url(), /flash=exam\.flash_synthesized/);
    await submit(admin.locator(`form[action="${paperPath}/publish"]`));
    assert.equal((await admin.locator('[data-testid="paper-state"]').innerText()).trim(), '已发布');
    const doc = await api('GET', '/api/v1/exam/papers/' + paperPath.split('/').pop());
    const items = doc.paper.sections.flatMap((s) => s.items);
    assert.deepEqual(items.map((it) => [it.id, it.type, it.points]), [['s1i1', 'listen_choose', 2], ['s2i1', 'listen_answer', 2], ['s3i1', 'imitate', 4]]);
    assert.ok(items.every((it) => /^[0-9a-f]{64}$/.test(it.prompt.audio || '')), 'every prompt has synthesized audio');
    assert.ok(!doc.paper.intro?.audio, 'no introduction audio');
  });

  step('variant B comes in through the JSON API: created, synthesized, published', async () => {
    const a = (await api('GET', '/api/v1/exam/papers')).find((d) => d.code === PAPER_A);
    const pp = structuredClone((await api('GET', '/api/v1/exam/papers/' + a.id)).paper);
    pp.code = PAPER_B; pp.variant = 'B'; pp.title = '端到端考试日 B卷';
    for (const it of pp.sections.flatMap((s) => s.items)) delete it.prompt.audio;
    const s1 = pp.sections[0].items[0], s2 = pp.sections[1].items[0];
    s1.prompt.text = 'Where is Lucy going this weekend?';
    s1.prompt.audio_text = 'Lucy is going to visit the science museum with her friends this weekend.';
    s2.prompt.audio_text = 'How does Lucy usually go to school?';
    s2.rubric.reference_answers = ['Lucy usually goes to school by bike.'];
    const d = await api('POST', '/api/v1/exam/papers', pp);
    assert.equal(d.state, 'draft');
    const syn = await api('POST', `/api/v1/exam/papers/${d.id}/synthesize`);
    assert.ok(syn.paper.sections.flatMap((s) => s.items).every((it) => it.prompt.audio), 'B has its own audio');
    const pub = await api('POST', `/api/v1/exam/papers/${d.id}/publish`);
    assert.equal(pub.state, 'published');
  });

  step('an exam with two sessions and a room at each of two sites', async () => {
    await go(admin, '/exam/exams');
    const form = admin.locator('form[action="/exam/exams"]');
    await form.locator('#code').fill(EXAM);
    await form.locator('#title').fill('端到端考试日');
    await form.locator('#tolerance').fill('1');
    await form.locator('#double_share').fill('100');
    await submit(form);
    const m = pathOf(admin).match(/^\/exam\/exams\/(\d+)$/);
    assert.ok(m, 'on the new exam page');
    examID = m[1];
    const now = Date.now();
    for (const [code, title] of [['S1', '第1场'], ['S2', '第2场']]) {
      await admin.locator('details', { has: admin.locator(`form[action="/exam/exams/${examID}/sessions"]`) }).locator('summary').click();
      const sf = admin.locator(`form[action="/exam/exams/${examID}/sessions"]`);
      await sf.locator('#s_code').fill(code);
      await sf.locator('#s_title').fill(title);
      await sf.locator('#s_start').fill(cst(now - 10 * 60_000));
      await sf.locator('#s_end').fill(cst(now + 3 * 3600_000));
      await sf.locator('#paper_A').selectOption(PAPER_A);
      await sf.locator('#paper_B').selectOption(PAPER_B);
      await submit(sf);
      assert.match(admin.url(), /flash=exam\.flash_saved/);
    }
    for (const site of [LW, GC]) {
      await admin.locator('details', { has: admin.locator(`form[action="/exam/exams/${examID}/rooms"]`) }).locator('summary').click();
      const rf = admin.locator(`form[action="/exam/exams/${examID}/rooms"]`);
      await rf.locator('#r_site').selectOption(site);
      await rf.locator('#r_code').fill('01');
      await rf.locator('#r_name').fill('第01考场');
      await rf.locator('#r_seats').fill('10');
      await rf.locator('#r_spare').fill('2');
      await submit(rf);
    }
    const sessions = await admin.locator('[data-testid="sessions"] tbody tr').allInnerTexts();
    assert.equal(sessions.length, 2);
    assert.ok(sessions.every((s) => s.includes(PAPER_A) && s.includes(PAPER_B)), 'both sessions have variants A and B');
    const sites = await admin.locator('[data-testid="sites"]').innerText();
    assert.ok(sites.includes(LW) && sites.includes(GC), 'rooms at both sites');
  });

  step('candidates and photos are imported from files, seated, and their tickets print', async () => {
    const csv = ['准考证号,姓名,学校,身份证号,照片,考点代码,场次',
      ...cands.map((c) => [c.number, c.name, c.school, c.id, c.photo, c.site, c.session].join(','))].join('\n') + '\n';
    writeFileSync(join(tmp, 'candidates.csv'), csv);
    writeFileSync(join(tmp, 'photos.zip'), zip(cands.map((c) => [c.photo, readFileSync(join(tmp, c.photo))])));
    const imp = admin.locator(`form[action="/exam/exams/${examID}/candidates/import"]`);
    await imp.locator('#file').setInputFiles(join(tmp, 'candidates.csv'));
    await submit(imp);
    assert.match(admin.url(), /flash=exam\.flash_imported/);
    assert.equal((await admin.locator('[data-testid="cand-count"]').innerText()).trim(), String(cands.length));
    const ph = admin.locator(`form[action="/exam/exams/${examID}/candidates/photos"]`);
    await ph.locator('#photos').setInputFiles(join(tmp, 'photos.zip'));
    await submit(ph);
    assert.match(await admin.locator('[data-testid="photo-report"]').innerText(), new RegExp(String(cands.length)));
    await submit(admin.locator(`form[action="/exam/exams/${examID}/seats"]`));
    assert.equal((await admin.locator('[data-testid="seated-count"]').innerText()).trim(), String(cands.length));
    const seated = await api('GET', `/api/v1/exam/exams/${examID}/candidates`);
    for (const c of cands) {
      const s = seated.find((x) => x.number === c.number);
      assert.ok(s && s.site === c.site && s.session === c.session && s.room === '01' && s.seat > 0 && s.photo, `${c.number} seated with a photo`);
      c.variant = s.variant;
    }
    assert.deepEqual([...new Set(seated.map((s) => s.variant))].sort(), ['A', 'B'], 'neighbours get variants A and B');
    for (const site of [LW, GC]) {
      await go(admin, `/exam/exams/${examID}/tickets?site=${site}`);
      const body = await admin.locator('body').innerText();
      for (const c of cands.filter((x) => x.site === site)) {
        assert.ok(body.includes(c.number) && body.includes(c.id.slice(0, 4) + '**********' + c.id.slice(14)), `ticket of ${c.number}`);
        assert.ok(!body.includes(c.id), 'tickets show the ID-card number masked');
      }
    }
    await shot(admin, 'exam-day-tickets.png', { fullPage: false });
  });

  step('each site gets a chief proctor, who makes the site node\'s token', async () => {
    for (const site of [LW, GC]) {
      const chief = { username: `chief_${site.slice(2).toLowerCase()}_${suffix}`, initial: 'Zhukao2027x' };
      await go(admin, `/exam/exams/${examID}/sites/${site}/staff`);
      const form = admin.locator(`form[action="/exam/exams/${examID}/sites/${site}/staff"]`);
      await form.locator('#username').fill(chief.username);
      await form.locator('#name').fill(site === LW ? '莱芜主考' : '钢城主考');
      await form.locator('#password').fill(chief.initial);
      await form.locator('input[name="chief"]').check();
      await submit(form);
      assert.match(await admin.locator('[data-testid="staff"]').innerText(), new RegExp(chief.username + '[\\s\\S]*✓'));
      const p = await person(chief.username, chief.initial);
      chief.token = await makeToken(p, 'site node ' + site);
      await p.context().close();
      chiefs[site] = chief;
    }
  });

  step('marking is set up: three examiners, one of them leader, every spoken answer marked twice', async () => {
    for (const [u, name] of [[`ex1_${suffix}`, '评卷员甲'], [`ex2_${suffix}`, '评卷员乙'], [`lead_${suffix}`, '评卷组长']]) {
      await go(admin, '/users/new');
      const form = admin.locator('form[action="/users"]');
      await form.locator('#username').fill(u);
      await form.locator('#display_name').fill(name);
      const org = await form.locator('#org_id option', { hasText: '济南市电化教育馆' }).first().getAttribute('value');
      await form.locator('#org_id').selectOption(org);
      await form.locator('input[name="roles"][value="examiner"]').check();
      await form.locator('#password').fill('Pingjuan2027x');
      await submit(form);
      assert.match(pathOf(admin), /^\/users\/\d+$/, `examiner ${u} created`);
    }
    await go(admin, `/exam/marking/${EXAM}/intake`);
    const sf = admin.locator(`form[action="/exam/marking/${EXAM}/settings"]`);
    await sf.locator('#double_share').fill('100');
    await sf.locator('#tolerance').fill('1');
    await submit(sf);
    const lf = admin.locator(`form[action="/exam/marking/${EXAM}/leaders"]`);
    await lf.locator('#username').fill(`lead_${suffix}`);
    await submit(lf);
    assert.match(await admin.locator('[data-testid="leaders"]').innerText(), new RegExp(`lead_${suffix}`));
    assert.equal(await admin.locator(`form[action="/exam/marking/${EXAM}/settings"] #double_share`).inputValue(), '100');
    // The first examiner opens the workspace before any answer exists: it
    // waits, and picks the tasks up by itself as they arrive.
    ex1 = await workspace(await person(`ex1_${suffix}`, 'Pingjuan2027x'));
    await ex1.locator('#status', { hasText: WAITING }).waitFor();
    assert.equal(await ex1.locator('#task').isVisible(), false);
    await shot(ex1, 'exam-day-workspace-waiting.png', { fullPage: false });
  });

  step('two site nodes start as their own processes, register and download their packages', async () => {
    for (const site of [LW, GC]) {
      const n = await startNode(site, chiefs[site]);
      await until(`site ${site}'s package`, async () => /site package loaded/.test(n.log), 60_000);
      const p = await openConsole(n);
      assert.equal(await p.locator('#sessions .session').count(), 2, 'both sessions in the package');
    }
    // The files the packages listed are on the nodes' disks: a photo per
    // candidate of the site and a sealed paper per session and variant.
    for (const n of Object.values(nodes)) {
      const files = readdirSync(join(n.dir, 'blobs')).filter((f) => /^[0-9a-f]{64}$/.test(f));
      assert.equal(files.length, cands.filter((c) => c.site === n.site).length + 2 * 2, `files downloaded at ${n.site}`);
    }
  });

  step('session 1\'s key is released on the keys page and both consoles open the papers', async () => {
    await go(admin, `/exam/exams/${examID}/keys`);
    const keys = await admin.locator('[data-testid="keys"] tbody tr').allInnerTexts();
    assert.equal(keys.length, 4, 'a key per session and site');
    await submit(admin.locator('form', { has: admin.locator('[data-testid="release-S1"]') }));
    assert.match(admin.url(), /flash=exam\.flash_released/);
    for (const n of Object.values(nodes)) {
      await sessionRow(n, 'S1').getByText('试卷已解密').waitFor({ timeout: 30_000 });
      assert.equal(await sessionRow(n, 'S2').getByText('试卷已解密').count(), 0, 'session 2 stays sealed');
    }
  });

  step('session 1: the chiefs start their rooms; candidates answer in Chromium and by simulation', async () => {
    for (const n of Object.values(nodes)) await startRoom(n, 'S1');
    const runs = [];
    for (const n of Object.values(nodes)) {
      const list = of(n.site, 'S1');
      runs.push(takeInBrowser(n, list.find((c) => c.browser)));
      runs.push(simulate(n, 'S1', list.filter((c) => !c.browser)).then((rep) => checkSimulation(rep, list.filter((c) => !c.browser))));
    }
    await Promise.all(runs);
    for (const n of Object.values(nodes)) {
      await n.console.locator('#room .seat[data-state="finished"]').nth(2).waitFor({ timeout: 15_000 });
      assert.equal(await n.console.locator('#room .seat[data-state="finished"]').count(), 3, `three finished at ${n.site}`);
      // Two recordings per candidate, on the node's disk.
      const wavs = readdirSync(join(n.dir, 'answers')).flatMap((a) => readdirSync(join(n.dir, 'answers', a)).filter((f) => f.endsWith('.wav')));
      assert.equal(wavs.length, 6, `recordings at ${n.site}`);
    }
  });

  step('session 1 ends on the consoles and the nodes send their answer packages on their own', async () => {
    for (const n of Object.values(nodes)) await endSession(n, 'S1', true);
  });

  step('session 2: key released, one candidate marked absent, the others simulated', async () => {
    await go(admin, `/exam/exams/${examID}/keys`);
    await submit(admin.locator('form', { has: admin.locator('[data-testid="release-S2"]') }));
    for (const n of Object.values(nodes)) await startRoom(n, 'S2');
    const absent = cands.find((c) => c.absent);
    const gc = nodes[GC];
    const seat = gc.console.locator(`#room .seat[data-number="${absent.number}"]`);
    await seat.getByRole('button', { name: '标记缺考' }).click();
    await gc.console.locator(`#room .seat[data-number="${absent.number}"][data-state="absent"]`).waitFor();
    const reps = await Promise.all(Object.values(nodes).map((n) => simulate(n, 'S2', of(n.site, 'S2').filter((c) => !c.absent))));
    Object.values(nodes).forEach((n, i) => checkSimulation(reps[i], of(n.site, 'S2').filter((c) => !c.absent)));
    for (const n of Object.values(nodes)) await endSession(n, 'S2', n.site === GC);
  });

  step('the center\'s intake page shows every package complete', async () => {
    await go(admin, `/exam/marking/${EXAM}/intake`);
    for (const site of [LW, GC]) {
      for (const s of ['S1', 'S2']) {
        const card = admin.locator(`[data-testid="site-${site}-${s}"]`);
        assert.match(await card.locator('h2').innerText(), /完整/, `${site} ${s} complete`);
      }
    }
    await shot(admin, 'exam-day-intake.png');
    const prog = await api('GET', `/api/v1/exam/marking/${EXAM}/completeness`);
    assert.equal(prog.length, 4);
    for (const sp of prog) {
      const list = of(sp.site, sp.session);
      const absent = list.filter((c) => c.absent).length;
      assert.deepEqual([sp.complete, sp.expected, sp.received, sp.finished, sp.absent, sp.missing_files?.length || 0, sp.empty?.length || 0, sp.silent?.length || 0],
        [true, list.length, list.length, list.length - absent, absent, 0, 0, 0], `${sp.site} ${sp.session}: ${JSON.stringify(sp)}`);
    }
  });

  const present = () => cands.filter((c) => !c.absent);
  let ex1, ex2, lead, far; // far: the recording the two examiners are apart on

  step('two examiners mark every spoken answer in the workspace with the keyboard', async () => {
    // The machine scorer (when its model is installed) goes first; then
    // every spoken answer waits for two people. Examiner 1's workspace,
    // open since before the exam, shows each as it comes.
    const spoken = 2 * present().length;
    // On the first imitation answer examiner 1 meets, the two are 4 points
    // apart; every other answer gets 1 from both.
    const m1 = await markAll(ex1, spoken, (type, rec) => {
      if (type === 'imitate' && far === undefined) {
        far = rec;
        return 0;
      }
      return 1;
    });
    assert.ok(far, 'examiner 1 met an imitation answer');
    ex2 = await workspace(await person(`ex2_${suffix}`, 'Pingjuan2027x'));
    const m2 = await markAll(ex2, spoken, (type, rec) => (rec === far ? 4 : 1));
    assert.deepEqual(m2.filter((g) => g.score === 4).map((g) => g.type), ['imitate'], 'examiner 2 met the same answer once');
    assert.deepEqual(new Set(m2.map((g) => g.rec)), new Set(m1.map((g) => g.rec)), 'both marked the same answers');
    await shot(ex2, 'exam-day-marking-done.png', { fullPage: false });
    await go(ex2, '/exam/marking');
    const cells = await ex2.locator('[data-testid="exams"] tr', { hasText: EXAM }).locator('td').allInnerTexts();
    assert.deepEqual(cells.slice(1, 3).map(Number), [1, 0], 'one answer still in human marking, none with the leader');
  });

  step('the leader gives the third mark, still apart, and decides on the leader page', async () => {
    lead = await person(`lead_${suffix}`, 'Pingjuan2027x');
    const m3 = await markAll(await workspace(lead), 1, () => 2);
    assert.deepEqual(m3.map((g) => [g.type, g.score, g.rec]), [['imitate', 2, far]], 'one third mark, on the imitation answer');
    await go(lead, `/exam/marking/${EXAM}/lead`);
    const cases = lead.locator('[data-testid="case"]');
    assert.equal(await cases.count(), 1, 'one answer for the leader');
    const text = await cases.first().innerText();
    assert.match(text, /s3i1/);
    for (const who of ['评卷员甲: 0', '评卷员乙: 4', '评卷组长: 2']) assert.ok(text.includes(who), `the case lists ${who}`);
    await shot(lead, 'exam-day-leader.png');
    const form = cases.first().locator('form');
    await form.locator('input[name="score"]').fill('3.5');
    await form.locator('input[name="reason"]').fill('要点完整，语音基本准确');
    await submit(form);
    assert.equal(await lead.locator('[data-testid="case"]').count(), 0, 'nothing left for the leader');
    await go(lead, '/exam/marking');
    const cells = await lead.locator('[data-testid="exams"] tr', { hasText: EXAM }).locator('td').allInnerTexts();
    assert.deepEqual(cells.slice(1, 3).map(Number), [0, 0], 'nothing in human marking or with the leader');
  });

  let arbitrated;
  step('results are released; every total is the sum of its item scores', async () => {
    await go(admin, `/exam/marking/${EXAM}/intake`);
    await submit(admin.locator(`form[action="/exam/marking/${EXAM}/release"]`));
    assert.match(await admin.locator('body').innerText(), /已发布|发布时间/);
    const results = await api('GET', `/api/v1/exam/results/${EXAM}`);
    assert.equal(results.length, cands.length);
    let answers = 0;
    for (const c of cands) {
      const r = results.find((x) => x.number === c.number);
      assert.ok(r, `a result for ${c.number}`);
      if (c.absent) {
        assert.equal(r.status, 'absent', 'the absent candidate');
        assert.equal(r.total, null);
        continue;
      }
      assert.equal(r.status, 'finished', `${c.number} finished`);
      assert.equal(r.answers, 3, `${c.number}: three answers stored`);
      assert.equal(r.final, 3);
      answers += r.answers;
      // objective 0 or 2, listen-and-answer 1 (1 and 1), imitation 1, or
      // 3.5 on the arbitrated answer: 2, 4 / 4.5, 6.5.
      assert.ok([2, 4, 4.5, 6.5].includes(r.total), `${c.number}: total ${r.total}`);
      if (r.total === 4.5 || r.total === 6.5) {
        assert.equal(arbitrated, undefined, 'one arbitrated candidate');
        arbitrated = { ...c, total: r.total };
      }
      if (c.browser) assert.ok(r.total === 4 || r.total === 6.5, `the Chromium candidate chose the key: ${r.total}`);
    }
    assert.equal(answers, 3 * present().length, 'every answer stored at the center');
    assert.ok(arbitrated, 'the arbitrated answer is in a total');
    // The staff view of that candidate: item by item.
    await go(admin, `/exam/results/${EXAM}?number=${arbitrated.number}`);
    const rows = (await admin.locator('[data-testid="detail"] tbody tr').allInnerTexts()).map((t) => t.split('\t').map((s) => s.trim()));
    const score = (item) => Number(rows.find((r) => r[0].startsWith(item))[1]);
    assert.equal(score('s3i1'), 3.5, 'the imitation answer has the leader\'s score');
    assert.equal(score('s2i1'), 1, 'the agreed mark');
    assert.ok([0, OBJ_POINTS].includes(score('s1i1')));
    assert.equal(score('s1i1') + score('s2i1') + score('s3i1'), arbitrated.total, 'total = objective + spoken');
    await shot(admin, 'exam-day-results.png');
  });

  step('a school sees its own candidates only', async () => {
    const school = await person('school_admin', DEMO_PASSWORD);
    await go(school, `/exam/results/${EXAM}`);
    const table = await school.locator('[data-testid="results"]').innerText();
    for (const c of cands) {
      assert.equal(table.includes(c.number), c.school === SCHOOL_1, `${c.number} (${c.school}) ${c.school === SCHOOL_1 ? 'shown' : 'hidden'}`);
    }
    await shot(school, 'exam-day-school.png');
    await school.context().close();
  });

  step('the candidate looks up their own score with admission number and ID-card number', async () => {
    const ctx = await newContext(browser, { viewport: { width: 1280, height: 900 } });
    const p = watch(await ctx.newPage());
    await go(p, '/exam/score');
    const form = p.locator('form[action="/exam/score"]');
    await form.locator('#exam').fill(EXAM);
    await form.locator('#number').fill(arbitrated.number);
    await form.locator('#id_number').fill(idNumber(999)); // someone else's number
    await submit(form);
    assert.equal(await p.locator('[data-testid="my-result"]').count(), 0, 'a wrong pair shows nothing');
    await form.locator('#exam').fill(EXAM);
    await form.locator('#number').fill(arbitrated.number);
    await form.locator('#id_number').fill(arbitrated.id);
    await submit(form);
    assert.equal(Number(await p.locator('[data-testid="total"]').innerText()), arbitrated.total, 'the released total');
    assert.match(await p.locator('[data-testid="my-result"] h2').innerText(), new RegExp(arbitrated.name));
    await shot(p, 'exam-day-score.png');
    await ctx.close();
  });
});
