// Examiner workspace: leases the next anonymised task, plays the
// recording, takes a score by button or keyboard and moves on.
// Keys: digits (and "." for a half point) type a score, Enter submits,
// Space plays or pauses, R replays from the start.
(function () {
  'use strict';
  var root = document.getElementById('workspace');
  if (!root) return;
  var exam = root.dataset.exam;
  var csrf = root.dataset.csrf;
  var $ = function (id) { return document.getElementById(id); };
  var statusEl = $('status'), taskEl = $('task'), audio = $('audio');
  var task = null, score = null, typed = '', busy = false;

  function say(msg) { statusEl.textContent = msg; }

  function api(method, path, body) {
    var opt = { method: method, credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } };
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    return fetch(path, opt).then(function (r) {
      if (r.status === 204) return null;
      return r.json().then(function (j) {
        if (!r.ok) { var e = new Error((j.error && j.error.message) || r.status); e.status = r.status; e.code = j.error && j.error.code; throw e; }
        return j;
      });
    });
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function showRubric(r) {
    var box = $('rubric');
    box.textContent = '';
    var dl = el('dl');
    function add(term, values) {
      if (!values || !values.length) return;
      dl.appendChild(el('dt', term));
      values.forEach(function (v) { dl.appendChild(el('dd', v)); });
    }
    add(root.dataset.msgRefText, r.reference_text ? [r.reference_text] : []);
    add(root.dataset.msgRefAnswers, r.reference_answers || []);
    add(root.dataset.msgKeyPoints, (r.key_points || []).map(function (k) { return k.text + '（' + k.points + '）'; }));
    add(root.dataset.msgNotes, r.notes ? [r.notes] : []);
    box.appendChild(dl);
  }

  function showScores() {
    var box = $('scores');
    box.textContent = '';
    for (var v = 0; v <= task.points + 1e-9; v += task.step) {
      var b = el('button', String(v), 'score');
      b.type = 'button';
      b.dataset.score = String(v);
      if (score !== null && Math.abs(score - v) < 1e-9) b.setAttribute('aria-pressed', 'true');
      b.addEventListener('click', function (ev) { choose(parseFloat(ev.currentTarget.dataset.score)); });
      box.appendChild(b);
    }
  }

  function choose(v) {
    if (!task || isNaN(v) || v < 0 || v > task.points) return;
    score = Math.round(v / task.step) * task.step;
    showScores();
  }

  function show(t) {
    task = t; score = null; typed = '';
    $('task-id').textContent = t.task;
    $('task-type').textContent = t.item_type;
    var flags = [];
    if (t.silent) flags.push(root.dataset.msgSilent);
    if (t.calibration) flags.push(root.dataset.msgCalibration);
    $('task-flags').textContent = flags.join(' ');
    $('task-flags').hidden = flags.length === 0;
    $('prompt').textContent = t.prompt || '';
    $('prompt-audio-text').textContent = t.prompt_audio_text || '';
    $('points').textContent = root.dataset.msgPoints.replace('%v', t.points);
    showRubric(t.rubric || {});
    showScores();
    audio.src = t.audio;
    taskEl.hidden = false;
    say('');
    audio.play().catch(function () {});
  }

  function next() {
    busy = true;
    api('POST', '/api/v1/exam/marking/' + encodeURIComponent(exam) + '/tasks/next').then(function (t) {
      busy = false;
      show(t);
    }).catch(function (e) {
      busy = false;
      task = null;
      taskEl.hidden = true;
      audio.removeAttribute('src');
      say(e.status === 404 ? root.dataset.msgNone : root.dataset.msgError + ' ' + e.message);
    });
  }

  function submit() {
    if (!task || busy || score === null) return;
    busy = true;
    api('POST', '/api/v1/exam/marking/tasks/' + task.task + '/mark', { score: score }).then(function () {
      busy = false;
      say(root.dataset.msgSaved);
      next();
    }).catch(function (e) { busy = false; say(root.dataset.msgError + ' ' + e.message); });
  }

  function problem() {
    if (!task || busy) return;
    var note = window.prompt(root.dataset.msgProblemPrompt, '');
    if (!note) return;
    busy = true;
    api('POST', '/api/v1/exam/marking/tasks/' + task.task + '/problem', { note: note }).then(function () {
      busy = false;
      next();
    }).catch(function (e) { busy = false; say(root.dataset.msgError + ' ' + e.message); });
  }

  $('submit').addEventListener('click', submit);
  $('problem').addEventListener('click', problem);
  document.addEventListener('keydown', function (ev) {
    if (!task || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target && ev.target.tagName;
    if (t === 'INPUT' || t === 'TEXTAREA') return;
    if (/^[0-9]$/.test(ev.key) || ev.key === '.') {
      typed = (typed + ev.key).slice(-4);
      var v = parseFloat(typed);
      if (!isNaN(v) && v <= task.points) { choose(v); } else { typed = ev.key; choose(parseFloat(typed)); }
      ev.preventDefault();
    } else if (ev.key === 'Enter') {
      submit(); ev.preventDefault();
    } else if (ev.key === ' ') {
      if (audio.paused) { audio.play().catch(function () {}); } else { audio.pause(); }
      ev.preventDefault();
    } else if (ev.key === 'r' || ev.key === 'R') {
      audio.currentTime = 0; audio.play().catch(function () {}); ev.preventDefault();
    } else if (ev.key === 'Backspace') {
      typed = ''; score = null; showScores(); ev.preventDefault();
    }
  });
  next();
})();
