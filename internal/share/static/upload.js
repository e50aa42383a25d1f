// Resumable uploads with tus-js-client: progress, speed and time left;
// survives a network drop (retries) and a page reload (resumes from the
// bytes the server has, remembered in localStorage); files go one by one.
(function () {
  var root = document.getElementById('uploader');
  if (!root || !window.tus) return;
  var input = document.getElementById('files');
  var queue = document.getElementById('queue');
  var pending = [];
  var busy = false;
  function fmtBytes(n) {
    var u = ['B', 'KB', 'MB', 'GB', 'TB'], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + ' ' + u[i];
  }
  function fmtTime(s) {
    if (!isFinite(s) || s < 0) return '…';
    var m = Math.floor(s / 60), r = Math.round(s % 60);
    return (m ? m + ':' : '') + (m && r < 10 ? '0' : '') + r + (m ? '' : ' s');
  }
  function next() {
    if (busy || !pending.length) return;
    busy = true;
    start(pending.shift());
  }
  function start(file) {
    var li = document.createElement('li');
    li.className = 'upload-item';
    li.innerHTML = '<div class="name"></div><progress max="100" value="0"></progress><div class="stat muted"></div>';
    li.querySelector('.name').textContent = file.name + ' (' + fmtBytes(file.size) + ')';
    queue.appendChild(li);
    var bar = li.querySelector('progress'), stat = li.querySelector('.stat');
    var t0 = Date.now(), b0 = 0, lastT = t0, lastB = 0, speed = 0;
    var up = new tus.Upload(file, {
      endpoint: root.dataset.endpoint,
      chunkSize: 64 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000, 60000, 60000],
      headers: { 'X-CSRF-Token': root.dataset.csrf },
      metadata: { filename: file.name, title: file.name.replace(/\.[^.]+$/, '') },
      removeFingerprintOnSuccess: true,
      onProgress: function (sent, total) {
        var now = Date.now();
        if (now - lastT >= 500) {
          var inst = (sent - lastB) / ((now - lastT) / 1000);
          speed = speed ? speed * 0.7 + inst * 0.3 : inst;
          lastT = now; lastB = sent;
        }
        bar.value = total ? (sent / total) * 100 : 0;
        var left = speed > 0 ? (total - sent) / speed : NaN;
        stat.textContent = fmtBytes(sent) + ' / ' + fmtBytes(total) + ' · ' + fmtBytes(speed) + '/s · ' +
          root.dataset.msgLeft + ' ' + fmtTime(left);
      },
      onShouldRetry: function (err, attempt) {
        var s = err.originalResponse ? err.originalResponse.getStatus() : 0;
        if (s >= 400 && s < 500 && s !== 409 && s !== 423) return false; // refused: say why, do not retry
        stat.textContent = root.dataset.msgRetry;
        return true;
      },
      onAfterResponse: function (req, res) {
        var id = res.getHeader('Jnedu-Video-Id');
        if (id) li.dataset.video = id;
      },
      onError: function (err) {
        var body = err.originalResponse ? err.originalResponse.getBody() : '';
        li.classList.add('failed');
        stat.textContent = root.dataset.msgFailed + ' ' + (body || err.message || err);
        busy = false; next();
      },
      onSuccess: function () {
        bar.value = 100;
        li.classList.add('done');
        var id = li.dataset.video;
        stat.innerHTML = '';
        var a = document.createElement('a');
        a.href = id ? '/videos/' + id : '/videos/mine';
        a.textContent = root.dataset.msgDone;
        a.setAttribute('data-testid', 'upload-done');
        stat.appendChild(a);
        busy = false; next();
      }
    });
    up.findPreviousUploads().then(function (prev) {
      if (prev.length) { up.resumeFromPreviousUpload(prev[0]); stat.textContent = root.dataset.msgResumed; }
      up.start();
    });
  }
  input.addEventListener('change', function () {
    for (var i = 0; i < input.files.length; i++) pending.push(input.files[i]);
    input.value = '';
    next();
  });
})();
