// jnedu pages work without scripts; this only adds small conveniences.
document.addEventListener('submit', function (e) {
  var f = e.target;
  var msg = f.getAttribute('data-confirm');
  if (msg && !window.confirm(msg)) { e.preventDefault(); }
});
document.addEventListener('click', function (e) {
  var b = e.target.closest('[data-copy]');
  if (!b) return;
  var el = document.getElementById(b.getAttribute('data-copy'));
  if (el && navigator.clipboard) { navigator.clipboard.writeText(el.textContent.trim()); b.textContent = b.getAttribute('data-copied') || '✓'; }
});
// On a phone the menu starts folded so the page content comes first.
if (window.matchMedia && window.matchMedia('(max-width: 760px)').matches) {
  document.querySelectorAll('details.sidenav[open]').forEach(function (d) { d.removeAttribute('open'); });
}
