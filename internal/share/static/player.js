// The video page's player: HLS through hls.js (native HLS where the browser
// has it), resume where the viewer left off, playback speed, and progress
// reports for the learning records.
(function () {
  var v = document.getElementById('player');
  if (!v) return;
  var src = v.dataset.src, id = v.dataset.video, csrf = v.dataset.csrf;
  var resume = parseInt(v.dataset.resume || '0', 10) / 1000;
  if (window.Hls && Hls.isSupported()) {
    var hls = new Hls({ startPosition: resume > 5 ? resume : -1 });
    hls.loadSource(src);
    hls.attachMedia(v);
  } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
    v.src = src;
    v.addEventListener('loadedmetadata', function () { if (resume > 5) v.currentTime = resume; }, { once: true });
  }
  var speed = document.getElementById('speed');
  if (speed) speed.addEventListener('change', function () { v.playbackRate = parseFloat(speed.value); });
  var watched = 0, last = null;
  v.addEventListener('timeupdate', function () {
    if (last !== null && !v.paused) {
      var d = v.currentTime - last;
      if (d > 0 && d < 2) watched += d;
    }
    last = v.currentTime;
  });
  function report(ended) {
    if (!csrf) return;
    var body = JSON.stringify({ position_ms: Math.round(v.currentTime * 1000), watched_ms: Math.round(watched * 1000), ended: !!ended });
    watched = 0;
    fetch('/api/v1/share/videos/' + id + '/views', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: body, keepalive: true
    }).catch(function () {});
  }
  v.addEventListener('play', function () { report(false); }, { once: true });
  setInterval(function () { if (!v.paused) report(false); }, 15000);
  v.addEventListener('pause', function () { report(false); });
  v.addEventListener('ended', function () { report(true); });
})();
