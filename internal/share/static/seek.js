// Seek preview for the video page: a seek bar under the player; hovering it
// shows the thumbnail of the time under the pointer, taken from the
// seek-preview sprite that processing makes (sprite/sprite.vtt, whose cues
// point at "sprite_001.jpg#xywh=x,y,w,h"). Clicking the bar seeks. When the
// sprite is missing or cannot be read, the bar stays hidden and the player
// works as before.
(function () {
  var v = document.getElementById('player');
  var box = document.getElementById('seek');
  if (!v || !box || !box.dataset.sprite || !window.fetch || !window.URL) return;
  var bar = box.querySelector('.seek-bar');
  var played = box.querySelector('.seek-played');
  var tip = box.querySelector('.seek-preview');
  var thumb = box.querySelector('.seek-thumb');
  var label = box.querySelector('.seek-time');
  var vtt = new URL(box.dataset.sprite, window.location.href);
  var cues = [];

  function seconds(s) {
    var parts = s.split(':'), t = 0;
    for (var i = 0; i < parts.length; i++) t = t * 60 + parseFloat(parts[i]);
    return t;
  }

  // parse reads the cues of a WebVTT sprite file; a cue that does not name
  // an image region is skipped.
  function parse(text) {
    var out = [];
    var lines = text.replace(/\r/g, '').split('\n');
    for (var i = 0; i < lines.length - 1; i++) {
      var m = /^\s*([\d:.]+)\s+-->\s+([\d:.]+)/.exec(lines[i]);
      if (!m) continue;
      var ref = lines[i + 1].trim(), at = ref.indexOf('#xywh=');
      if (at <= 0) continue;
      var r = ref.slice(at + 6).split(',').map(Number);
      if (r.length !== 4 || r.some(function (n) { return !isFinite(n) || n < 0; })) continue;
      var img = new URL(ref.slice(0, at), vtt);
      if (img.origin !== window.location.origin) continue;
      img.search = vtt.search; // the video's signature covers its sheets too
      out.push({ start: seconds(m[1]), end: seconds(m[2]), src: img.href, x: r[0], y: r[1], w: r[2], h: r[3] });
    }
    return out;
  }

  function duration() {
    if (isFinite(v.duration) && v.duration > 0) return v.duration;
    return cues.length ? cues[cues.length - 1].end : 0;
  }

  function cueAt(t) {
    for (var i = 0; i < cues.length; i++) if (t < cues[i].end) return cues[i];
    return cues[cues.length - 1];
  }

  function clock(t) {
    t = Math.max(0, Math.floor(t));
    var h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    return (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (s < 10 ? '0' : '') + s;
  }

  function pointer(ev) {
    var r = bar.getBoundingClientRect();
    var f = r.width > 0 ? Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)) : 0;
    return { t: f * duration(), x: f * r.width, width: r.width };
  }

  function show(ev) {
    if (!cues.length || !duration()) return;
    var p = pointer(ev), c = cueAt(p.t);
    thumb.style.width = c.w + 'px';
    thumb.style.height = c.h + 'px';
    thumb.style.backgroundImage = 'url("' + c.src.replace(/["\\]/g, '\\$&') + '")';
    thumb.style.backgroundPosition = (-c.x) + 'px ' + (-c.y) + 'px';
    label.textContent = clock(p.t);
    tip.dataset.time = p.t.toFixed(2);
    tip.hidden = false;
    tip.style.left = Math.min(Math.max(0, p.x - c.w / 2), Math.max(0, p.width - c.w)) + 'px';
  }

  function hide() { tip.hidden = true; }

  function progress() {
    var d = duration();
    var f = d ? Math.min(1, v.currentTime / d) : 0;
    played.style.width = (f * 100).toFixed(2) + '%';
    bar.setAttribute('aria-valuenow', String(Math.round(v.currentTime)));
    bar.setAttribute('aria-valuemax', String(Math.round(d)));
    bar.setAttribute('aria-valuetext', clock(v.currentTime));
  }

  bar.addEventListener('pointermove', show);
  bar.addEventListener('pointerenter', show);
  bar.addEventListener('pointerleave', hide);
  bar.addEventListener('click', function (ev) {
    var d = duration();
    if (d) v.currentTime = Math.min(pointer(ev).t, d - 0.1);
  });
  bar.addEventListener('keydown', function (ev) {
    var step = ev.key === 'ArrowRight' ? 5 : ev.key === 'ArrowLeft' ? -5 : 0;
    if (!step) return;
    ev.preventDefault();
    v.currentTime = Math.min(Math.max(0, v.currentTime + step), Math.max(0, duration() - 0.1));
  });
  v.addEventListener('timeupdate', progress);
  v.addEventListener('durationchange', progress);

  fetch(vtt.href, { credentials: 'same-origin' })
    .then(function (r) { if (!r.ok) throw new Error('sprite ' + r.status); return r.text(); })
    .then(function (text) {
      cues = parse(text);
      box.dataset.cues = String(cues.length);
      if (!cues.length) return;
      // Fetch the sheets now, so the first hover shows a picture at once.
      var seen = {};
      cues.forEach(function (c) { if (!seen[c.src]) { seen[c.src] = true; new Image().src = c.src; } });
      box.hidden = false;
      progress();
    })
    .catch(function () { box.dataset.cues = '0'; });
})();
