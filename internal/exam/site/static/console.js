// Proctor console: polls the site node every 2 s and renders sessions,
// the seat grid of the chosen room, alarms and the end-of-session check.
'use strict';

(function () {
  const root = document.getElementById('console');
  if (!root) return;
  const S = JSON.parse(root.dataset.strings || '{}');
  const chief = root.dataset.chief === 'true';
  const T = (k) => S[k] || k;
  let room = null; // {session, room}
  let checkSession = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  async function call(method, path, body) {
    const res = await fetch(path, {
      method, credentials: 'same-origin',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 401) { location.href = '/console/login'; throw new Error('signed out'); }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
    return data;
  }
  async function act(method, path, body) {
    try { await call(method, path, body); } catch (e) { alert(e.message); }
    refresh();
  }
  function button(label, fn, cls) {
    const b = el('button', cls || '', label);
    b.type = 'button';
    b.addEventListener('click', fn);
    return b;
  }

  function renderOverview(o) {
    const alarms = document.getElementById('alarms');
    alarms.textContent = '';
    for (const a of o.alarms || []) alarms.appendChild(el('p', 'alarm alarm-' + a.kind, a.message));
    document.getElementById('nopkg').hidden = !!o.sessions;
    const ss = document.getElementById('sessions');
    ss.textContent = '';
    const tabs = document.getElementById('roomtabs');
    tabs.textContent = '';
    for (const s of o.sessions || []) {
      const row = el('div', 'session');
      row.appendChild(el('strong', '', s.code + ' ' + s.title));
      row.appendChild(el('span', s.key_loaded ? 'ok' : 'warn', s.key_loaded ? T('exam.site.key_loaded') : T('exam.site.key_missing')));
      if (s.upload) row.appendChild(el('span', s.upload === 'complete' ? 'ok' : 'warn', T('exam.site.upload_' + s.upload) + (s.upload_error ? ' (' + s.upload_error + ')' : '')));
      if (chief && !s.key_loaded) {
        row.appendChild(button(T('exam.site.enter_key'), () => {
          const code = prompt(T('exam.site.enter_key'));
          if (code) act('POST', '/console/api/sessions/' + encodeURIComponent(s.code) + '/key', { code });
        }));
      }
      if (chief && !s.ended) {
        row.appendChild(button(T('exam.site.end_session'), () => {
          if (confirm(T('exam.site.confirm_end'))) act('POST', '/console/api/sessions/' + encodeURIComponent(s.code) + '/end', {});
        }, 'danger'));
      }
      row.appendChild(button(T('exam.site.check'), () => { checkSession = s.code; refreshCheck(); }, 'secondary'));
      ss.appendChild(row);
      for (const r of o.rooms || []) {
        const b = button(s.code + ' · ' + r.name, () => { room = { session: s.code, room: r.code }; refresh(); }, 'tab');
        if (room && room.session === s.code && room.room === r.code) b.classList.add('active');
        tabs.appendChild(b);
      }
      if (!room && o.rooms && o.rooms.length) room = { session: s.code, room: o.rooms[0].code };
    }
  }

  function renderRoom(v) {
    const box = document.getElementById('room');
    box.textContent = '';
    const head = el('div', 'roomhead');
    head.appendChild(el('strong', '', v.name));
    head.appendChild(el('span', 'roomstate room-' + v.state, T('exam.site.room_' + v.state)));
    const base = '/console/api/rooms/' + encodeURIComponent(v.session) + '/' + encodeURIComponent(v.room) + '/';
    if (v.state === 'waiting') head.appendChild(button(T('exam.site.start'), () => act('POST', base + 'start', {})));
    if (v.state === 'running') head.appendChild(button(T('exam.site.pause'), () => act('POST', base + 'pause', {})));
    if (v.state === 'paused') head.appendChild(button(T('exam.site.resume'), () => act('POST', base + 'resume', {})));
    if (v.state !== 'ended') head.appendChild(button(T('exam.site.end_room'), () => { if (confirm(T('exam.site.end_room') + '?')) act('POST', base + 'end', {}); }, 'danger'));
    box.appendChild(head);
    const grid = el('div', 'grid');
    for (const s of v.seats) {
      let state = s.state;
      const live = ['signed_in', 'confirmed', 'ready', 'running'].includes(state);
      if (live && !s.connected) state = 'disconnected';
      const c = el('div', 'seat st-' + state + (s.spare ? ' spare' : ''));
      c.dataset.seat = String(s.seat);
      c.dataset.number = s.number || '';
      c.dataset.state = state;
      c.appendChild(el('div', 'seatno', T('exam.site.seat') + ' ' + s.seat + (s.spare ? ' · ' + T('exam.site.spare') : '')));
      if (s.number) {
        c.appendChild(el('div', 'name', s.name));
        c.appendChild(el('div', 'num', s.number));
        c.appendChild(el('div', 'state', T('exam.site.st_' + state) + (s.item ? ' · ' + T('exam.site.item') + ' ' + s.item + '/' + v.items : '')));
        if (s.device_ok) c.appendChild(el('div', 'ok small', T('exam.site.device_ok')));
        if (s.reason) c.appendChild(el('div', 'warn small', s.reason));
        const acts = el('div', 'acts');
        if (live) acts.appendChild(button(T('exam.site.move'), () => openMove(v, s), 'small move'));
        if (state === 'not_signed_in') acts.appendChild(button(T('exam.site.mark_absent'), () => act('POST', '/console/api/mark', { session: v.session, number: s.number, state: 'absent', reason: '' }), 'small'));
        if (state !== 'abnormal' && state !== 'absent') {
          acts.appendChild(button(T('exam.site.mark_abnormal'), () => {
            const reason = prompt(T('exam.site.reason_prompt'));
            if (reason) act('POST', '/console/api/mark', { session: v.session, number: s.number, state: 'abnormal', reason });
          }, 'small'));
        } else {
          acts.appendChild(button(T('exam.site.clear_mark'), () => act('POST', '/console/api/mark', { session: v.session, number: s.number, state: 'clear', reason: '' }), 'small'));
        }
        c.appendChild(acts);
      }
      grid.appendChild(c);
    }
    box.appendChild(grid);
  }

  // The move dialog: the free seats of the room (spare seats first) and a
  // reason, both required; the site node checks the seat again.
  const dlg = document.getElementById('move-dlg');
  let moving = null; // {session, number}
  function openMove(v, s) {
    const sel = document.getElementById('move-seat');
    sel.textContent = '';
    const free = v.seats.filter((x) => !x.number).sort((a, b) => (b.spare - a.spare) || (a.seat - b.seat));
    for (const x of free) {
      const o = el('option', '', T('exam.site.seat') + ' ' + x.seat + (x.spare ? ' · ' + T('exam.site.spare') : ''));
      o.value = String(x.seat);
      sel.appendChild(o);
    }
    moving = { session: v.session, number: s.number };
    document.getElementById('move-who').textContent = s.name + ' ' + s.number + ' · ' + T('exam.site.seat') + ' ' + s.seat +
      (s.item ? ' · ' + T('exam.site.item') + ' ' + s.item + '/' + v.items : '');
    document.getElementById('move-reason').value = '';
    const errBox = document.getElementById('move-error');
    errBox.hidden = free.length > 0;
    errBox.textContent = free.length ? '' : T('exam.site.no_free_seat');
    document.getElementById('move-ok').disabled = !free.length;
    dlg.showModal();
  }
  document.getElementById('move-cancel').addEventListener('click', () => dlg.close());
  document.getElementById('move-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const errBox = document.getElementById('move-error');
    const seat = parseInt(document.getElementById('move-seat').value, 10);
    const reason = document.getElementById('move-reason').value.trim();
    if (!moving || !seat || !reason) return;
    try {
      await call('POST', '/console/api/move', { session: moving.session, number: moving.number, seat, reason });
      dlg.close();
    } catch (err) {
      errBox.textContent = err.message;
      errBox.hidden = false;
      return;
    }
    refresh();
  });

  async function refreshCheck() {
    if (!checkSession) return;
    const card = document.getElementById('checkcard');
    const box = document.getElementById('check');
    const data = await call('GET', '/console/api/sessions/' + encodeURIComponent(checkSession) + '/check');
    card.hidden = false;
    box.textContent = '';
    const table = el('table', 'check');
    const head = el('tr');
    for (const h of [T('exam.site.seat'), '', '', T('exam.site.item'), T('exam.site.duration'), '']) head.appendChild(el('th', '', h));
    table.appendChild(head);
    for (const r of data.rows || []) {
      const tr = el('tr', r.silent || r.gaps || !r.recorded ? 'bad' : '');
      tr.appendChild(el('td', '', r.room + '-' + r.seat));
      tr.appendChild(el('td', '', r.number));
      tr.appendChild(el('td', '', r.name + ' (' + T('exam.site.st_' + r.status) + ')'));
      tr.appendChild(el('td', '', r.item));
      tr.appendChild(el('td', '', r.recorded ? (r.duration_ms / 1000).toFixed(1) + ' s' : T('exam.site.no_recording')));
      tr.appendChild(el('td', '', [r.silent ? T('exam.site.silent') : '', r.gaps ? T('exam.site.gaps') + ' ' + r.gaps : ''].filter(Boolean).join(' · ')));
      table.appendChild(tr);
    }
    box.appendChild(table);
    if (data.moves && data.moves.length) {
      box.appendChild(el('h3', '', T('exam.site.moves')));
      const mt = el('table', 'check moves');
      for (const m of data.moves) {
        const tr = el('tr');
        tr.dataset.number = m.number;
        tr.appendChild(el('td', '', new Date(m.at).toLocaleTimeString('zh-CN', { hour12: false })));
        tr.appendChild(el('td', '', m.number));
        tr.appendChild(el('td', '', m.name));
        tr.appendChild(el('td', 'fromto', m.room + ' ' + T('exam.site.move_from_to').replace('%v', m.from).replace('%v', m.to)));
        tr.appendChild(el('td', 'item', T('exam.site.item') + ' ' + m.item));
        tr.appendChild(el('td', 'reason', m.reason || ''));
        mt.appendChild(tr);
      }
      box.appendChild(mt);
    }
  }

  async function refresh() {
    try {
      renderOverview(await call('GET', '/console/api/overview'));
      if (room) renderRoom(await call('GET', '/console/api/rooms/' + encodeURIComponent(room.session) + '/' + encodeURIComponent(room.room)));
    } catch (e) { /* next poll */ }
  }
  refresh();
  setInterval(refresh, 2000);
})();
