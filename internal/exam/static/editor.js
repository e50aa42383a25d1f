// Paper editor: renders the paper document as a form, keeps the JSON in
// the form's textarea up to date, shows each validation problem next to
// its field, uploads prompt audio and images. Without scripts the JSON
// textarea is the editor.
(function () {
  'use strict';
  var root = document.getElementById('editor');
  if (!root) return;
  var form = document.getElementById('paper-form');
  var doc = document.getElementById('doc');
  var L = JSON.parse(root.dataset.labels || '{}');
  var problems = {};
  (JSON.parse(root.dataset.problems || '[]') || []).forEach(function (p) { (problems[p.path] = problems[p.path] || []).push(p.message); });
  var paper;
  try { paper = JSON.parse(doc.value); } catch (e) { return; }
  document.documentElement.classList.add('js');
  var TYPES = ['listen_choose', 'listen_answer', 'imitate', 'read_aloud', 'situational', 'retell', 'topic'];

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
  function sync() { doc.value = JSON.stringify(paper, null, 2); }
  function errs(path) {
    var ms = problems[path];
    return ms ? el('span', { 'class': 'ed-error', text: ms.join('；') }) : null;
  }
  // field binds an input to obj[key]; kind: text, area, int, num, bool, lines
  function field(label, obj, key, kind, path) {
    var v = obj[key];
    var input;
    if (kind === 'area' || kind === 'lines') {
      input = el('textarea', { rows: kind === 'lines' ? 3 : 2 });
      input.value = kind === 'lines' ? (v || []).join('\n') : (v || '');
    } else if (kind === 'bool') {
      input = el('input', { type: 'checkbox' });
      input.checked = !!v;
    } else {
      input = el('input', { type: kind === 'text' ? 'text' : 'number', step: kind === 'num' ? '0.5' : '1' });
      input.value = v === undefined || v === null ? '' : v;
    }
    input.setAttribute('data-path', path);
    input.addEventListener(kind === 'bool' ? 'change' : 'input', function () {
      var x;
      if (kind === 'bool') x = input.checked;
      else if (kind === 'int') x = parseInt(input.value, 10) || 0;
      else if (kind === 'num') x = parseFloat(input.value) || 0;
      else if (kind === 'lines') x = input.value.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
      else x = input.value;
      if ((kind === 'lines' && x.length === 0) || (kind === 'text' || kind === 'area') && x === '') delete obj[key]; else obj[key] = x;
      sync();
    });
    var f = el('label', { 'class': 'ed-field' + (problems[path] ? ' bad' : '') }, [el('span', { text: label }), input, errs(path)]);
    return f;
  }
  function upload(url, file, done) {
    var st = el('span', { 'class': 'muted', text: L.uploading });
    fetch(url, { method: 'POST', body: file, headers: { 'X-CSRF-Token': root.dataset.csrf, 'Content-Type': file.type || 'application/octet-stream' }, credentials: 'same-origin' })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error && j.error.message || r.status); return j; }); })
      .then(function (j) { done(j.sha256); }, function (e) { st.textContent = L.upload_failed + ' ' + e.message; });
    return st;
  }
  function media(label, pr, key, path, kind) {
    var box = el('div', { 'class': 'ed-media' });
    function draw() {
      box.textContent = '';
      box.appendChild(el('span', { text: label }));
      if (pr[key]) {
        box.appendChild(kind === 'audio' ? el('audio', { controls: '', preload: 'none', src: '/exam/media/' + pr[key] }) : el('img', { src: '/exam/media/' + pr[key], alt: '' }));
        box.appendChild(el('button', { type: 'button', 'class': 'link', text: L.clear, on: { click: function () { delete pr[key]; sync(); draw(); } } }));
      }
      var inp = el('input', { type: 'file', accept: kind === 'audio' ? 'audio/*' : 'image/png,image/jpeg', 'data-path': path });
      inp.addEventListener('change', function () {
        if (!inp.files[0]) return;
        box.appendChild(upload(kind === 'audio' ? '/api/v1/exam/media/audio' : '/api/v1/exam/media/images', inp.files[0], function (sha) { pr[key] = sha; sync(); draw(); }));
      });
      box.appendChild(inp);
      var e = errs(path);
      if (e) box.appendChild(e);
    }
    draw();
    return box;
  }
  function prompt(pr, path) {
    return el('div', {}, [
      field(L.text, pr, 'text', 'area', path + '.text'),
      field(L.audio_text, pr, 'audio_text', 'area', path + '.audio_text'),
      media(L.audio, pr, 'audio', path + '.audio', 'audio'),
      media(L.image, pr, 'image', path + '.image', 'image')
    ]);
  }
  function tools(list, i, redraw) {
    function move(d) { var j = i + d; if (j < 0 || j >= list.length) return; var t = list[i]; list[i] = list[j]; list[j] = t; sync(); redraw(); }
    return el('span', { 'class': 'ed-tools' }, [
      el('button', { type: 'button', 'class': 'link', text: L.move_up, on: { click: function () { move(-1); } } }),
      el('button', { type: 'button', 'class': 'link', text: L.move_down, on: { click: function () { move(1); } } }),
      el('button', { type: 'button', 'class': 'link', text: L.remove, on: { click: function () { list.splice(i, 1); sync(); redraw(); } } })
    ]);
  }
  function item(it, path, list, i, redraw) {
    var box = el('div', { 'class': 'ed-block item' });
    function draw() {
      box.textContent = '';
      var type = el('select', { 'data-path': path + '.type' });
      TYPES.forEach(function (t) { var o = el('option', { value: t, text: L['type_' + t] || t }); if (t === it.type) o.selected = true; type.appendChild(o); });
      type.addEventListener('change', function () { it.type = type.value; sync(); draw(); });
      box.appendChild(el('div', { 'class': 'ed-head' }, [el('strong', { text: L.items + ' ' + (i + 1) + ' · ' + (L['type_' + it.type] || it.type) }), tools(list, i, redraw)]));
      box.appendChild(el('div', { 'class': 'ed-row' }, [
        field(L.id, it, 'id', 'text', path + '.id'),
        el('label', { 'class': 'ed-field' }, [el('span', { text: L.type }), type, errs(path + '.type')]),
        field(L.plays, it, 'plays', 'int', path + '.plays'),
        field(L.prep_sec, it, 'prep_sec', 'int', path + '.prep_sec'),
        it.type === 'listen_choose' ? null : field(L.answer_sec, it, 'answer_sec', 'int', path + '.answer_sec'),
        field(L.points, it, 'points', 'num', path + '.points')
      ]));
      it.prompt = it.prompt || {};
      box.appendChild(el('h4', { text: L.prompt }));
      box.appendChild(prompt(it.prompt, path + '.prompt'));
      if (it.type === 'listen_choose') {
        box.appendChild(field(L.options + '（' + L.one_per_line + '）', it, 'options', 'lines', path + '.options'));
        for (var k = 0; k < (it.options || []).length; k++) { var e = errs(path + '.options[' + k + ']'); if (e) box.appendChild(e); }
        var ans = el('input', { type: 'number', min: '1', 'data-path': path + '.answer' });
        ans.value = it.answer === undefined || it.answer === null ? '' : it.answer + 1;
        ans.addEventListener('input', function () { var n = parseInt(ans.value, 10); if (n > 0) it.answer = n - 1; else delete it.answer; sync(); });
        box.appendChild(el('label', { 'class': 'ed-field' + (problems[path + '.answer'] ? ' bad' : '') }, [el('span', { text: L.answer }), ans, errs(path + '.answer')]));
      } else {
        it.rubric = it.rubric || {};
        var r = it.rubric, rp = path + '.rubric';
        box.appendChild(el('h4', { text: L.rubric }));
        var e2 = errs(rp); if (e2) box.appendChild(e2);
        if (it.type === 'imitate' || it.type === 'read_aloud') box.appendChild(field(L.reference_text, r, 'reference_text', 'area', rp + '.reference_text'));
        else box.appendChild(field(L.reference_answers + '（' + L.one_per_line + '）', r, 'reference_answers', 'lines', rp + '.reference_answers'));
        box.appendChild(el('span', { text: L.key_points }));
        var e3 = errs(rp + '.key_points'); if (e3) box.appendChild(e3);
        r.key_points = r.key_points || [];
        r.key_points.forEach(function (kp, j) {
          var vars = { v: (kp.variants || []).join('，') };
          var vi = field(L.variants, vars, 'v', 'text', rp + '.key_points[' + j + '].variants');
          vi.querySelector('input').addEventListener('input', function () {
            var a = vars.v ? vars.v.split(/[,，;；]/).map(function (s) { return s.trim(); }).filter(Boolean) : [];
            if (a.length) kp.variants = a; else delete kp.variants; sync();
          });
          box.appendChild(el('div', { 'class': 'ed-kp' }, [field(L.text, kp, 'text', 'text', rp + '.key_points[' + j + '].text'), vi,
            field(L.points, kp, 'points', 'num', rp + '.key_points[' + j + '].points'),
            el('button', { type: 'button', 'class': 'link', text: L.remove, on: { click: function () { r.key_points.splice(j, 1); sync(); draw(); } } })]));
        });
        box.appendChild(el('button', { type: 'button', 'class': 'secondary', text: L.add_key_point, on: { click: function () { r.key_points.push({ text: '', points: 1 }); sync(); draw(); } } }));
        box.appendChild(field(L.notes, r, 'notes', 'area', rp + '.notes'));
        box.appendChild(field(L.tolerance, r, 'tolerance', 'num', rp + '.tolerance'));
      }
    }
    draw();
    return box;
  }
  function section(s, path, i, redraw) {
    var box = el('div', { 'class': 'ed-block section' });
    function draw() {
      box.textContent = '';
      box.appendChild(el('div', { 'class': 'ed-head' }, [el('strong', { text: L.section + ' ' + (i + 1) }), tools(paper.sections, i, redraw)]));
      box.appendChild(el('div', { 'class': 'ed-row' }, [field(L.title, s, 'title', 'text', path + '.title'), field(L.no_back, s, 'no_back', 'bool', path + '.no_back')]));
      s.intro = s.intro || {};
      box.appendChild(el('details', {}, [el('summary', { text: L.intro }), prompt(s.intro, path + '.intro')]));
      var e = errs(path + '.items'); if (e) box.appendChild(e);
      s.items = s.items || [];
      s.items.forEach(function (it, j) { box.appendChild(item(it, path + '.items[' + j + ']', s.items, j, draw)); });
      var n = 0; paper.sections.forEach(function (x) { n += (x.items || []).length; });
      box.appendChild(el('button', { type: 'button', 'class': 'secondary', text: L.add_item, on: { click: function () {
        var last = s.items[s.items.length - 1];
        s.items.push({ id: 's' + (i + 1) + 'i' + (s.items.length + 1) + (n > 0 ? '' : ''), type: last ? last.type : 'listen_answer', plays: 1, prep_sec: 10, answer_sec: 20, points: 1, prompt: {} });
        sync(); draw();
      } } }));
    }
    draw();
    return box;
  }
  function draw() {
    root.textContent = '';
    root.appendChild(el('div', { 'class': 'ed-row' }, [
      el('label', { 'class': 'ed-field' }, [el('span', { text: L.code }), el('input', { type: 'text', value: paper.code, readonly: '' })]),
      field(L.title, paper, 'title', 'text', 'title'), field(L.variant, paper, 'variant', 'text', 'variant')]));
    paper.intro = paper.intro || {};
    root.appendChild(el('details', {}, [el('summary', { text: L.intro }), prompt(paper.intro, 'intro')]));
    var e = errs('sections'); if (e) root.appendChild(e);
    paper.sections = paper.sections || [];
    paper.sections.forEach(function (s, i) { root.appendChild(section(s, 'sections[' + i + ']', i, draw)); });
    root.appendChild(el('button', { type: 'button', 'class': 'secondary', text: L.add_section, on: { click: function () {
      var k = paper.sections.length + 1;
      paper.sections.push({ title: '', no_back: true, intro: {}, items: [{ id: 's' + k + 'i1', type: 'listen_answer', plays: 1, prep_sec: 10, answer_sec: 20, points: 1, prompt: {} }] });
      sync(); draw();
    } } }));
  }
  draw();
  form.addEventListener('submit', sync);
})();
