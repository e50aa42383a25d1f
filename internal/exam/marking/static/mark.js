// Examiner workspace: leases the next anonymised task, plays the
// recording, takes a score by button or keyboard and moves on.
// Keys: digits (and "." for a half point) type a score, Enter submits,
// Space plays or pauses, R replays from the start.
//
// With nothing to mark it waits for work by itself: it asks the read-only
// GET …/tasks/waiting after 5 s, then 10, 20 and every 30 s (each ±20%,
// so idle examiners do not ask in step), not at all while the tab is
// hidden, at once when it is shown again; when a task is waiting it leases
// it with POST …/tasks/next and shows it.
(function () {
  'use strict';
  var root = document.getElementById('workspace');
  if (!root) return;
  var exam = root.dataset.exam;
  var csrf = root.dataset.csrf;
  var $ = function (id) { return document.getElementById(id); };
  var statusEl = $('status'), taskEl = $('task'), audio = $('audio');
  var task = null, score = null, typed = '', busy = false;
  var POLL_FIRST = 5000, POLL_MAX = 30000, JITTER = 0.2;
  var idle = false, asking = false, delay = POLL_FIRST, timer = null;
  var base = '/api/v1/exam/marking/' + encodeURIComponent(exam);

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

  // next leases a task. fromPoll: the waiting check said yes, so a "no
  // task" (another examiner was quicker) keeps the current back-off
  // instead of starting it again.
  function next(fromPoll) {
    busy = true;
    api('POST', base + '/tasks/next').then(function (t) {
      busy = false;
      idle = false;
      delay = POLL_FIRST;
      show(t);
    }).catch(function (e) {
      busy = false;
      if (!fromPoll) delay = POLL_FIRST;
      wait(e.status === 404 ? root.dataset.msgWaiting : failed(e), e.status);
    });
  }

  // A session that is gone (401) or a right taken away (403) ends the
  // waiting; anything else is tried again later.
  function fatal(status) { return status === 401 || status === 403; }

  function failed(e) {
    return root.dataset.msgError + ' ' + e.message + (fatal(e.status) ? '' : ' ' + root.dataset.msgRetrying);
  }

  // wait shows msg and checks for work later, unless the session is gone.
  function wait(msg, status) {
    task = null;
    taskEl.hidden = true;
    audio.removeAttribute('src');
    say(msg);
    idle = !fatal(status);
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (!idle || document.hidden) return; // visibilitychange resumes
    var d = delay * (1 - JITTER + 2 * JITTER * Math.random());
    delay = Math.min(delay * 2, POLL_MAX);
    timer = setTimeout(poll, d);
  }

  function poll() {
    timer = null;
    if (!idle || busy || asking || document.hidden) return;
    asking = true;
    api('GET', base + '/tasks/waiting').then(function (r) {
      asking = false;
      if (!idle || busy) return;
      if (r.waiting) {
        next(true);
      } else {
        say(root.dataset.msgWaiting);
        schedule();
      }
    }).catch(function (e) {
      asking = false;
      if (!idle) return;
      say(failed(e));
      idle = !fatal(e.status);
      schedule();
    });
  }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (idle && !busy) {
      delay = POLL_FIRST;
      poll();
    }
  });

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
