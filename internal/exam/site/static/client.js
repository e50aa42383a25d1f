// Exam client of the site node: sign-in, confirmation, device check, then
// the paper item by item. Recorded audio (16 kHz mono Int16, ~1 s chunks
// from an AudioWorklet) and every answer go through an outbox in IndexedDB:
// stored first, sent in order, deleted after the site node's 200, retried
// with backoff across outages, reloads and crashes.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const EN = {
    title: 'English listening and speaking exam', signin: 'Candidate sign-in', number: 'Admission number',
    signin_btn: 'Sign in', confirm: 'Check your details', name: 'Name', school: 'School', idno: 'ID number',
    seat: 'Room / seat', confirm_btn: 'These are my details', not_me: 'Not me: sign in again', device: 'Device check',
    device_help: 'Put on the headset. After "Start", listen to the tone, then read "Hello, I am ready for the test." aloud; 3 seconds are recorded and played back.',
    device_start: 'Start', device_ask: 'Did you hear the tone and your own voice clearly?', yes: 'Yes', no: 'No: raise your hand',
    wait: 'Wait for the start', wait_help: 'The exam starts when the proctor starts the room. Stay quiet.',
    resume: 'Continue the exam', resume_help: 'You are back at the item where you stopped. Click to continue.',
    resume_btn: 'Continue', paused: 'The exam is paused: wait for the proctor.', done: 'The exam is over',
    done_help: 'Your answers are saved. Keep this computer on until it shows that everything is uploaded.',
  };
  const ZH = {
    online: '已连接', offline: '网络中断，作答已保存在本机，恢复后自动上传', queued: '待上传 %d 段',
    tone: '正在播放提示音……', recording: '正在录音，请朗读……', playback: '正在回放……', prompt: '请听题', prep: '准备',
    answer: '请作答（录音中）', choose: '请选择', seconds: '%d 秒', item: '第 %d 题 / 共 %d 题', uploaded: '全部上传完成',
    pending: '还有 %d 项正在上传，请勿关机', moved: '本考生已在其他座位继续考试，本机登录已失效。',
    nomic: '无法使用麦克风，请举手示意监考员', network: '无法连接考点服务器，请稍候重试',
  };
  const lang = /[?&]lang=en/.test(location.search) ? 'en' : 'zh';
  const ZH_EN = {
    online: 'Connected', offline: 'Network down: answers are kept here and sent when it is back', queued: '%d waiting to upload',
    tone: 'Playing the tone…', recording: 'Recording: read aloud…', playback: 'Playing back…', prompt: 'Listen', prep: 'Prepare',
    answer: 'Answer (recording)', choose: 'Choose', seconds: '%d s', item: 'Item %d of %d', uploaded: 'Everything is uploaded',
    pending: '%d still uploading: do not switch off', moved: 'This candidate continues on another seat; this sign-in has ended.',
    nomic: 'The microphone cannot be used: raise your hand', network: 'The site server cannot be reached: try again shortly',
  };
  const t = (k, ...args) => {
    let s = (lang === 'en' ? ZH_EN : ZH)[k] || k;
    for (const a of args) s = s.replace('%d', String(a));
    return s;
  };
  if (lang === 'en') {
    document.querySelectorAll('[data-t]').forEach((el) => { const k = el.dataset.t; if (EN[k]) el.textContent = EN[k]; });
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  const sha256 = async (buf) => hex(await crypto.subtle.digest('SHA-256', buf));

  // ---- state kept across reloads ----
  let device = localStorage.getItem('jnedu.exam.device');
  if (!device) {
    device = hex(crypto.getRandomValues(new Uint8Array(12)));
    localStorage.setItem('jnedu.exam.device', device);
  }
  let auth = JSON.parse(localStorage.getItem('jnedu.exam.auth') || 'null'); // {attempt, token}
  const saveAuth = (a) => { auth = a; if (a) localStorage.setItem('jnedu.exam.auth', JSON.stringify(a)); else localStorage.removeItem('jnedu.exam.auth'); };

  // ---- IndexedDB outbox ----
  let dbp = null;
  function idb() {
    if (!dbp) {
      dbp = new Promise((resolve, reject) => {
        const req = indexedDB.open('jnedu-exam', 1);
        req.onupgradeneeded = () => {
          const d = req.result;
          d.createObjectStore('outbox', { keyPath: 'k', autoIncrement: true });
          d.createObjectStore('meta', { keyPath: 'key' });
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return dbp;
  }
  function tx(stores, mode, fn) {
    return idb().then((d) => new Promise((resolve, reject) => {
      const x = d.transaction(stores, mode);
      let out;
      Promise.resolve(fn(x)).then((v) => { out = v; });
      x.oncomplete = () => resolve(out);
      x.onerror = () => reject(x.error);
      x.onabort = () => reject(x.error);
    }));
  }
  const reqP = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });

  // enqueue stores one request (and, for a chunk, the item's next sequence
  // number) in one transaction, then wakes the sender.
  async function enqueue(rec, nextSeq) {
    await tx(['outbox', 'meta'], 'readwrite', (x) => {
      x.objectStore('outbox').add(rec);
      if (nextSeq !== undefined) x.objectStore('meta').put({ key: rec.attempt + '/' + rec.item, next: nextSeq });
    });
    wake();
  }
  async function localNext(attempt, item) {
    const m = await tx(['meta'], 'readonly', (x) => reqP(x.objectStore('meta').get(attempt + '/' + item)));
    return m ? m.next : 0;
  }
  async function pendingCount() {
    return tx(['outbox'], 'readonly', (x) => reqP(x.objectStore('outbox').count()));
  }

  // ---- sender ----
  let wakeFn = null;
  function wake() { if (wakeFn) { const f = wakeFn; wakeFn = null; f(); } }
  let online = true;
  function setNet(ok, queued) {
    online = ok;
    const el = $('net');
    el.className = 'net ' + (ok ? 'ok' : 'down');
    $('nettext').textContent = (ok ? t('online') : t('offline')) + (queued ? ' · ' + t('queued', queued) : '');
  }
  async function send(rec) {
    const base = '/client/api/attempts/' + rec.attempt;
    // A sign-in again on this browser (a reload) gave a new token for the
    // same attempt: queued records go out with it.
    const token = auth && auth.attempt === rec.attempt ? auth.token : rec.token;
    const h = { Authorization: 'Bearer ' + token };
    let url, init;
    switch (rec.kind) {
      case 'chunk':
        url = base + '/items/' + rec.item + '/chunks/' + rec.seq;
        init = { method: 'PUT', headers: Object.assign(h, { 'X-Chunk-SHA256': rec.sha, 'Content-Type': 'application/octet-stream' }), body: rec.body };
        break;
      case 'open': url = base + '/items/' + rec.item + '/open'; init = { method: 'POST', headers: Object.assign(h, { 'Content-Type': 'application/json' }), body: '{}' }; break;
      case 'close': url = base + '/items/' + rec.item + '/close'; init = { method: 'POST', headers: Object.assign(h, { 'Content-Type': 'application/json' }), body: JSON.stringify({ chunks: rec.chunks }) }; break;
      case 'answer': url = base + '/items/' + rec.item + '/answer'; init = { method: 'PUT', headers: Object.assign(h, { 'Content-Type': 'application/json' }), body: JSON.stringify({ choice: rec.choice }) }; break;
      case 'finish': url = base + '/finish'; init = { method: 'POST', headers: Object.assign(h, { 'Content-Type': 'application/json' }), body: '{}' }; break;
      default: return 'drop';
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      return 'retry';
    }
    if (res.ok) return 'done';
    let code = '';
    try { code = (await res.json()).error.code; } catch (e) { /* not JSON */ }
    if (res.status >= 500 || res.status === 429 || res.status === 408) return 'retry'; // 507 disk full, 503: kept and retried
    if (res.status === 401 || res.status === 403) return 'auth';
    // Refusals that retrying cannot change: the item is closed, a chunk
    // with other bytes is stored, going back is not allowed.
    console.warn('jnedu exam: request refused', rec.kind, rec.item, rec.seq, res.status, code);
    return 'drop';
  }
  async function sender() {
    let backoff = 500;
    for (;;) {
      const rec = await tx(['outbox'], 'readonly', (x) => new Promise((resolve) => {
        const c = x.objectStore('outbox').openCursor();
        c.onsuccess = () => resolve(c.result ? c.result.value : null);
        c.onerror = () => resolve(null);
      }));
      if (!rec) {
        setNet(online, 0);
        updateDone();
        await new Promise((r) => { wakeFn = r; setTimeout(r, 2000); });
        continue;
      }
      const r = await send(rec);
      if (r === 'done' || r === 'drop') {
        await tx(['outbox'], 'readwrite', (x) => x.objectStore('outbox').delete(rec.k));
        backoff = 500;
        setNet(true, 0);
        continue;
      }
      if (r === 'auth') {
        // The attempt was taken over on another seat (a move), or the
        // token is stale: what is queued cannot be sent from here.
        showMessage(t('moved'));
        await sleep(5000);
        continue;
      }
      setNet(false, await pendingCount());
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 8000);
    }
  }

  // ---- API calls made live (not queued) ----
  async function api(method, path, body) {
    const h = {};
    if (auth) h.Authorization = 'Bearer ' + auth.token;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (e) { /* empty */ }
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || res.statusText);
      err.status = res.status;
      err.code = data && data.error && data.error.code;
      throw err;
    }
    return data;
  }
  const attPath = (p) => '/client/api/attempts/' + auth.attempt + (p || '');

  function showMessage(msg) {
    const m = $('message');
    m.textContent = msg || '';
    m.hidden = !msg;
  }
  function show(id) {
    document.querySelectorAll('main > section').forEach((s) => { s.hidden = s.id !== id; });
  }

  // ---- audio ----
  const WORKLET = `
class JneduRecorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buf = new Int16Array(16000); this.n = 0; this.sum = 0; this.cnt = 0;
    this.port.onmessage = (e) => {
      if (e.data === 'reset') { this.n = 0; }
      if (e.data === 'flush') { const out = this.buf.slice(0, this.n); this.n = 0; this.port.postMessage({ chunk: out.buffer, final: true }, [out.buffer]); }
    };
  }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      const v = Math.max(-1, Math.min(1, ch[i]));
      this.buf[this.n++] = v < 0 ? v * 32768 : v * 32767;
      this.sum += v * v; this.cnt++;
      if (this.n === this.buf.length) { const out = this.buf; this.buf = new Int16Array(16000); this.n = 0; this.port.postMessage({ chunk: out.buffer }, [out.buffer]); }
    }
    if (this.cnt >= 1600) { this.port.postMessage({ level: Math.sqrt(this.sum / this.cnt) }); this.sum = 0; this.cnt = 0; }
    return true;
  }
}
registerProcessor('jnedu-recorder', JneduRecorder);
`;
  // The module is loaded at page load (as a blob: URL), so recording does
  // not depend on the server being up when it starts.
  const actx = new AudioContext({ sampleRate: 16000 });
  const workletReady = actx.audioWorklet.addModule(URL.createObjectURL(new Blob([WORKLET], { type: 'application/javascript' })));
  let node = null;
  let onChunk = null; // (ArrayBuffer, final) => void
  let flushWaiter = null;
  async function startMic() {
    if (node) return;
    await workletReady;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 } });
    const src = actx.createMediaStreamSource(stream);
    node = new AudioWorkletNode(actx, 'jnedu-recorder');
    const mute = actx.createGain();
    mute.gain.value = 0;
    src.connect(node).connect(mute).connect(actx.destination);
    node.port.onmessage = (e) => {
      if (e.data.level !== undefined) {
        const pct = Math.min(100, Math.round(e.data.level * 300)) + '%';
        [$('level'), $('level2')].forEach((el) => { el.dataset.level = pct; el.className = 'lvl lvl' + Math.min(10, Math.round(e.data.level * 30)); });
        return;
      }
      if (e.data.chunk && onChunk) onChunk(e.data.chunk, !!e.data.final);
      if (e.data.final && flushWaiter) { const f = flushWaiter; flushWaiter = null; f(); }
    };
  }
  function flush() {
    return new Promise((resolve) => { flushWaiter = resolve; node.port.postMessage('flush'); });
  }
  function tone(ms) {
    return new Promise((resolve) => {
      const o = actx.createOscillator();
      const g = actx.createGain();
      g.gain.value = 0.2;
      o.frequency.value = 660;
      o.connect(g).connect(actx.destination);
      o.start();
      setTimeout(() => { o.stop(); resolve(); }, ms);
    });
  }
  function playPCM(chunks) {
    const total = chunks.reduce((a, c) => a + c.length, 0);
    const buf = actx.createBuffer(1, Math.max(1, total), 16000);
    const d = buf.getChannelData(0);
    let o = 0;
    for (const c of chunks) { for (let i = 0; i < c.length; i++) d[o++] = c[i] / 32768; }
    return new Promise((resolve) => {
      const s = actx.createBufferSource();
      s.buffer = buf;
      s.connect(actx.destination);
      s.onended = resolve;
      s.start();
    });
  }

  // ---- screens ----
  let view = null;
  async function refreshView() {
    view = await api('GET', attPath(''));
    $('who').textContent = view.candidate.name + ' ' + view.candidate.number;
    return view;
  }

  async function boot() {
    sender();
    if (!auth) { show('s-signin'); return; }
    try {
      await refreshView();
    } catch (e) {
      if (e.status === 401 || e.status === 403 || e.status === 404) { saveAuth(null); show('s-signin'); return; }
      showMessage(t('network'));
      setTimeout(boot, 3000);
      return;
    }
    route();
  }

  function route() {
    const st = view.attempt.state;
    if (st === 'finished') { show('s-done'); updateDone(); return; }
    if (st === 'signed_in') { confirmScreen(); return; }
    if (st === 'confirmed') { show('s-device'); return; }
    if (st === 'running') { show('s-resume'); return; }
    if (st === 'ready') { waitForStart(); return; }
    showMessage(view.attempt.reason || st);
  }

  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    actx.resume();
    showMessage('');
    try {
      const out = await api('POST', '/client/api/signin', { number: $('number').value.trim(), device });
      saveAuth({ attempt: out.attempt, token: out.token });
      await refreshView();
      // A candidate signing in to an attempt already under way (on a
      // spare seat after a move, or after "not me") checks their details
      // and new seat first, then continues where they stopped.
      if (view.attempt.state === 'running') confirmScreen();
      else route();
    } catch (err) {
      showMessage(err.message || t('network'));
    }
  });

  async function confirmScreen() {
    const c = view.candidate;
    $('c-name').textContent = c.name;
    $('c-number').textContent = c.number;
    $('c-school').textContent = c.school;
    $('c-id').textContent = c.id_masked;
    $('c-seat').textContent = c.room + ' / ' + c.seat;
    if (c.has_photo) {
      try {
        const res = await fetch(attPath('/photo'), { headers: { Authorization: 'Bearer ' + auth.token } });
        if (res.ok) { $('photo').src = URL.createObjectURL(await res.blob()); $('photo').hidden = false; }
      } catch (e) { /* photo is optional */ }
    }
    show('s-confirm');
  }
  $('confirm-btn').addEventListener('click', async () => {
    try {
      await api('POST', attPath('/confirm'), {});
      show(view.attempt.state === 'running' ? 's-resume' : 's-device');
    } catch (e) { showMessage(e.message); }
  });
  $('notme-btn').addEventListener('click', () => { saveAuth(null); show('s-signin'); });

  $('device-start').addEventListener('click', async () => {
    actx.resume();
    $('device-start').disabled = true;
    try {
      await startMic();
    } catch (e) {
      showMessage(t('nomic'));
      $('device-start').disabled = false;
      return;
    }
    $('device-step').textContent = t('tone');
    await tone(1000);
    $('device-step').textContent = t('recording');
    const got = [];
    node.port.postMessage('reset');
    onChunk = (b) => got.push(new Int16Array(b));
    await sleep(3000);
    await flush();
    onChunk = null;
    $('device-step').textContent = t('playback');
    await playPCM(got);
    let sum = 0, n = 0;
    for (const c of got) for (let i = 0; i < c.length; i++) { sum += (c[i] / 32768) ** 2; n++; }
    deviceLevel = n ? Math.sqrt(sum / n) : 0;
    $('device-step').textContent = '';
    $('device-ask').hidden = false;
    $('device-start').disabled = false;
  });
  let deviceLevel = 0;
  $('device-ok').addEventListener('click', async () => {
    try { await api('POST', attPath('/device'), { ok: true, level: deviceLevel }); await refreshView(); waitForStart(); } catch (e) { showMessage(e.message); }
  });
  $('device-bad').addEventListener('click', async () => {
    try { await api('POST', attPath('/device'), { ok: false, level: deviceLevel }); } catch (e) { /* shown on the console anyway */ }
  });

  async function waitForStart() {
    show('s-wait');
    for (;;) {
      try {
        const hb = await api('POST', attPath('/heartbeat'), {});
        if (hb.room_state !== 'waiting' && hb.paper_open) break;
      } catch (e) {
        if (e.status === 403 || e.status === 401) { showMessage(t('moved')); return; }
      }
      await sleep(2000);
    }
    await runExam(false);
  }
  $('resume-btn').addEventListener('click', async () => {
    actx.resume();
    try { await refreshView(); } catch (e) { /* continue with what we have */ }
    runExam(true);
  });

  // ---- the paper ----
  let paper = null;
  const files = {}; // sha → blob URL (prompts kept in memory)
  let roomState = 'running';
  let cur = { item: '', phase: '', remaining: 0 };

  async function loadPaper() {
    for (;;) {
      try { paper = await api('GET', attPath('/paper')); break; } catch (e) { await sleep(2000); }
    }
    const need = new Set();
    for (const s of paper.sections) for (const it of s.items) if (it.prompt.audio) need.add(it.prompt.audio);
    for (const sha of need) {
      for (let i = 0; i < 5 && !files[sha]; i++) {
        try {
          const res = await fetch(attPath('/files/' + sha), { headers: { Authorization: 'Bearer ' + auth.token } });
          if (res.ok) files[sha] = URL.createObjectURL(await res.blob());
        } catch (e) { await sleep(1000); }
      }
    }
  }

  function heartbeatLoop() {
    const beat = async () => {
      try {
        const hb = await api('POST', attPath('/heartbeat'), { item: cur.item, phase: cur.phase, remaining_ms: Math.max(0, Math.round(cur.remaining)) });
        roomState = hb.room_state;
        setNet(true, await pendingCount());
      } catch (e) {
        if (e.status === 401 || e.status === 403) { showMessage(t('moved')); stopped = true; return; }
        setNet(false, await pendingCount());
      }
      $('paused').hidden = roomState !== 'paused';
    };
    beat();
    setInterval(beat, 2000);
  }
  let stopped = false;

  // countdown runs ms of exam time, stopping while the room is paused.
  async function countdown(ms, phase) {
    cur.phase = phase;
    cur.remaining = ms;
    let last = performance.now();
    while (cur.remaining > 0 && !stopped && roomState !== 'ended') {
      await sleep(100);
      const now = performance.now();
      if (roomState !== 'paused') cur.remaining -= now - last;
      last = now;
      $('countdown').textContent = t('seconds', Math.max(0, Math.ceil(cur.remaining / 1000)));
    }
    $('countdown').textContent = '';
  }

  function playPrompt(sha, times) {
    return (async () => {
      if (!sha || !files[sha]) return;
      for (let i = 0; i < Math.max(1, times); i++) {
        await new Promise((resolve) => {
          const a = new Audio(files[sha]);
          a.onended = resolve;
          a.onerror = resolve;
          a.play().catch(resolve);
        });
        await sleep(300);
      }
    })();
  }

  async function runExam(resuming) {
    show('s-exam');
    await startMic().catch(() => showMessage(t('nomic')));
    await loadPaper();
    heartbeatLoop();
    const items = [];
    for (const s of paper.sections) for (const it of s.items) items.push({ it, sec: s });
    let start = 0;
    if (view && view.item) start = Math.max(0, items.findIndex((x) => x.it.id === view.item));
    for (let i = start; i < items.length && !stopped && roomState !== 'ended'; i++) {
      const { it, sec } = items[i];
      const st = view && view.items && view.items[it.id];
      if (st && st.state === 'closed') continue;
      const resume = resuming && i === start && view.attempt.phase ? { phase: view.attempt.phase, remaining: view.attempt.remaining_ms } : null;
      cur.item = it.id;
      $('sec-title').textContent = sec.title;
      $('progress').textContent = t('item', i + 1, items.length);
      $('item-title').textContent = '';
      $('item-text').textContent = it.prompt.text || '';
      await enqueue({ kind: 'open', attempt: auth.attempt, token: auth.token, item: it.id });
      if (it.type === 'listen_choose') await choiceItem(it, resume);
      else await spokenItem(it, resume, st);
    }
    if (stopped) return;
    // Finish (the site marks the attempt finished only when every item
    // was closed here; a room the proctor ended stays partial).
    await enqueue({ kind: 'finish', attempt: auth.attempt, token: auth.token });
    cur = { item: cur.item, phase: 'done', remaining: 0 };
    show('s-done');
    updateDone();
  }

  async function choiceItem(it, resume) {
    const ol = $('options');
    ol.innerHTML = '';
    ol.hidden = false;
    it.options.forEach((o, idx) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'option';
      b.textContent = String.fromCharCode(65 + idx) + '. ' + o;
      b.addEventListener('click', () => {
        ol.querySelectorAll('button').forEach((x) => x.classList.remove('chosen'));
        b.classList.add('chosen');
        enqueue({ kind: 'answer', attempt: auth.attempt, token: auth.token, item: it.id, choice: idx });
      });
      li.appendChild(b);
      ol.appendChild(li);
    });
    if (!resume || resume.phase === 'prompt') {
      $('phase').textContent = t('prompt');
      cur.phase = 'prompt';
      await playPrompt(it.prompt.audio, it.plays);
    }
    $('phase').textContent = t('choose');
    const ms = resume && resume.phase === 'answer' ? Math.max(0, resume.remaining) : Math.max(it.answer_sec || 0, 8) * 1000;
    await countdown(ms, 'answer');
    ol.hidden = true;
    await enqueue({ kind: 'close', attempt: auth.attempt, token: auth.token, item: it.id, chunks: 0 });
  }

  // A resumed phase gets what the site node recorded as left of it, 0
  // included: time already used is never granted again.
  async function spokenItem(it, resume, st) {
    $('options').hidden = true;
    let phase = resume ? resume.phase : 'prompt';
    if (phase === 'prompt' || phase === 'done' || !phase) {
      $('phase').textContent = t('prompt');
      cur.phase = 'prompt';
      cur.remaining = 0;
      await playPrompt(it.prompt.audio, it.plays);
      phase = 'prep';
    }
    if (phase === 'prep') {
      $('phase').textContent = t('prep');
      const ms = resume && resume.phase === 'prep' ? Math.max(0, resume.remaining) : (it.prep_sec || 0) * 1000;
      await countdown(ms, 'prep');
    }
    // Answer: recording starts and stops on its own.
    const ms = resume && resume.phase === 'answer' ? Math.max(0, resume.remaining) : it.answer_sec * 1000;
    let seq = Math.max(st ? st.next_seq : 0, await localNext(auth.attempt, it.id));
    const attempt = auth.attempt, token = auth.token, item = it.id;
    let writes = Promise.resolve();
    const store = (buf) => {
      if (!buf.byteLength) return;
      const s = seq++;
      writes = writes.then(async () => {
        const sha = await sha256(buf);
        await enqueue({ kind: 'chunk', attempt, token, item, seq: s, body: buf, sha }, s + 1);
      });
    };
    $('phase').textContent = t('answer');
    document.body.classList.add('recording');
    if (node) {
      node.port.postMessage('reset');
      onChunk = (buf) => { if (roomState !== 'paused') store(buf); };
    }
    await countdown(ms, 'answer');
    if (node) await flush();
    onChunk = null;
    document.body.classList.remove('recording');
    await writes;
    await enqueue({ kind: 'close', attempt, token, item, chunks: seq });
  }

  async function updateDone() {
    if ($('s-done').hidden) return;
    const n = await pendingCount();
    $('pending').textContent = n ? t('pending', n) : t('uploaded');
    $('pending').dataset.pending = String(n);
  }

  boot();
})();
