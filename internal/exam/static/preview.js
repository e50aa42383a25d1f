// Paper preview: plays a paper as a candidate takes it — the intro, then
// item by item the prompt audio (as many plays as the item has), the
// preparation countdown and the answer countdown with recording. The
// recording stays in this browser (played back, never uploaded). Where a
// section says no_back there is no way to an earlier item of it.
(function () {
  'use strict';
  var root = document.getElementById('player');
  if (!root) return;
  var paper = JSON.parse(root.dataset.paper);
  var L = JSON.parse(root.dataset.labels || '{}');
  var mediaBase = root.dataset.media;
  var steps = [];
  steps.push({ kind: 'intro', prompt: paper.intro || {}, title: paper.title });
  (paper.sections || []).forEach(function (s, si) {
    steps.push({ kind: 'intro', prompt: s.intro || {}, title: s.title, section: si });
    (s.items || []).forEach(function (it, ii) { steps.push({ kind: 'item', item: it, section: si, noBack: !!s.no_back, index: ii }); });
  });
  var cur = -1, timer = null, audio = null, stream = null, recorder = null, cancelled = 0;

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'on') Object.keys(attrs.on).forEach(function (ev) { e.addEventListener(ev, attrs.on[ev]); });
      else e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function stop() {
    cancelled++;
    if (timer) { clearInterval(timer); timer = null; }
    if (audio) { audio.pause(); audio = null; }
    if (recorder && recorder.state !== 'inactive') { try { recorder.stop(); } catch (e) { /* already stopped */ } }
  }
  function canBack() {
    if (cur <= 0) return false;
    var s = steps[cur], p = steps[cur - 1];
    if (s.kind === 'item' && s.noBack) return false;
    if (s.kind === 'intro' && p.kind === 'item' && p.noBack) return false;
    return true;
  }
  function nav(stage) {
    return el('div', { 'class': 'nav' }, [
      el('button', { type: 'button', 'class': 'secondary', 'data-testid': 'pv-back', text: L.back, on: { click: function () { go(cur - 1); } } }),
      el('button', { type: 'button', 'data-testid': 'pv-next', text: L.next, on: { click: function () { stage.skip(); } } })
    ]);
  }
  function countdown(label, sec, box, then) {
    var token = cancelled;
    var left = sec;
    var phase = el('p', { 'class': 'phase', 'data-testid': 'pv-phase', text: label });
    var count = el('p', { 'class': 'count', 'data-testid': 'pv-count', text: left + ' ' + L.seconds });
    box.appendChild(phase); box.appendChild(count);
    var fired = false;
    function done() {
      if (fired) return;
      fired = true;
      if (timer) { clearInterval(timer); timer = null; }
      if (token === cancelled) { phase.remove(); count.remove(); then(); }
    }
    if (sec <= 0) { done(); return done; }
    timer = setInterval(function () { left--; count.textContent = left + ' ' + L.seconds; if (left <= 0) done(); }, 1000);
    return done;
  }
  function play(sha, times, box, then) {
    var token = cancelled;
    if (!sha || times <= 0) { then(); return function () {}; }
    var n = 0, over = false;
    var phase = el('p', { 'class': 'phase', 'data-testid': 'pv-phase', text: L.listen + ' 1/' + times });
    box.appendChild(phase);
    function next() {
      if (token !== cancelled) return;
      if (n >= times) { if (over) return; over = true; phase.remove(); audio = null; then(); return; }
      n++;
      phase.textContent = L.listen + ' ' + n + '/' + times;
      audio = new Audio(mediaBase + sha);
      audio.addEventListener('ended', next);
      audio.addEventListener('error', next);
      audio.play().catch(next);
    }
    next();
    return function () { if (audio) { audio.pause(); } n = times; next(); };
  }
  function record(sec, box, then) {
    var token = cancelled;
    var out = el('div', {});
    box.appendChild(out);
    var chunks = [];
    var finish;
    function stopRec() {
      if (recorder && recorder.state !== 'inactive') recorder.stop();
    }
    function start() {
      try {
        recorder = new MediaRecorder(stream);
      } catch (e) { out.appendChild(el('p', { 'class': 'muted', text: L.no_mic })); finish = countdown(L.answer, sec, box, then); return; }
      recorder.ondataavailable = function (e) { if (e.data.size) chunks.push(e.data); };
      recorder.onstop = function () {
        if (chunks.length) {
          out.appendChild(el('p', { text: L.your_recording }));
          var blob = new Blob(chunks, { type: recorder.mimeType });
          out.appendChild(el('audio', { controls: '', 'data-testid': 'pv-recording', 'data-bytes': String(blob.size), src: URL.createObjectURL(blob) }));
        }
      };
      recorder.start();
      var dot = el('p', { 'class': 'rec', text: '● ' + L.recording });
      recorder.addEventListener('stop', function () { dot.remove(); });
      out.appendChild(dot);
      finish = countdown(L.answer, sec, box, function () { stopRec(); if (token === cancelled) then(); });
    }
    if (stream) start();
    else if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) { stream = s; if (token === cancelled) start(); },
        function () { if (token !== cancelled) return; out.appendChild(el('p', { 'class': 'muted', text: L.no_mic })); finish = countdown(L.answer, sec, box, then); });
    } else { out.appendChild(el('p', { 'class': 'muted', text: L.no_mic })); finish = countdown(L.answer, sec, box, then); }
    return function () { if (finish) finish(); };
  }
  function showPrompt(pr, box) {
    if (pr.text) box.appendChild(el('p', { 'class': 'prompt-text', 'data-testid': 'pv-text', text: pr.text }));
    if (pr.image) box.appendChild(el('img', { 'class': 'prompt-image', src: mediaBase + pr.image, alt: '' }));
  }
  function go(i) {
    stop();
    if (i < 0) return;
    var token = cancelled;
    cur = i;
    root.textContent = '';
    if (cur >= steps.length) {
      root.appendChild(el('p', { 'class': 'phase', 'data-testid': 'pv-finished', text: L.finished }));
      root.appendChild(el('button', { type: 'button', text: L.restart, on: { click: function () { go(0); } } }));
      return;
    }
    var s = steps[cur];
    var box = el('div', {});
    var stage = { skip: function () { go(cur + 1); } };
    if (s.kind === 'intro') {
      root.appendChild(el('h2', { text: s.title || L.intro }));
      showPrompt(s.prompt, box);
      root.appendChild(box);
      stage.skip = play(s.prompt.audio, 1, box, function () { go(cur + 1); });
    } else {
      var it = s.item;
      root.appendChild(el('h2', { 'data-testid': 'pv-item', text: L.item + ' ' + it.id }));
      if (s.noBack) root.appendChild(el('p', { 'class': 'small', text: L.section_no_back }));
      showPrompt(it.prompt || {}, box);
      if (it.type === 'listen_choose') {
        var opts = el('div', { 'class': 'options' });
        (it.options || []).forEach(function (o, k) {
          opts.appendChild(el('label', {}, [el('input', { type: 'radio', name: 'choice', value: String(k) }), document.createTextNode(' ' + String.fromCharCode(65 + k) + '. ' + o)]));
        });
        box.appendChild(opts);
      }
      root.appendChild(box);
      var prep = function (next) { return countdown(L.prep, it.prep_sec || 0, box, next); };
      var listen = function (next) { return play((it.prompt || {}).audio, it.plays || 0, box, next); };
      // Objective items: read the options, then listen. Spoken items:
      // listen, prepare, answer.
      // After a spoken answer the recording stays for playback until Next.
      var review = function (next) { box.appendChild(el('p', { 'class': 'phase', 'data-testid': 'pv-done', text: L.done })); return next; };
      var phases = it.type === 'listen_choose' ? [prep, listen] : [listen, prep, function (next) { return record(it.answer_sec || 0, box, next); }, review];
      var k = 0;
      var run = function () {
        if (k >= phases.length) { go(cur + 1); return; }
        var mine = ++k;
        var skip = phases[mine - 1](run);
        if (k === mine) stage.skip = skip || run;
      };
      run();
    }
    if (token !== cancelled) return; // the step ended at once and the next one is showing
    var n = nav(stage);
    n.firstChild.disabled = !canBack();
    root.appendChild(n);
  }
  root.appendChild(el('p', { text: paper.title }));
  root.appendChild(el('button', { type: 'button', 'data-testid': 'pv-start', text: L.start, on: { click: function () { go(0); } } }));
})();
