// The live page of the admin port (`GET /`). Self-contained (no external script or
// style), fed by `GET /events` (Server-Sent Events: a `status` every second and right
// after each view change, every timeline entry as it happens), so a view change shows
// without a reload. The DOM is built with textContent only: names in the status come
// from clients and must never be interpreted as HTML. Elements carry data-* attributes
// and stable ids so that tests (and scripts) can read the page.
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chorusd</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg: #f6f7fb; --card: #fff; --ink: #1d2330; --muted: #6a7182; --line: #e1e4ee;
          --ok: #1f8a4c; --warn: #b86e00; --bad: #c0262d; --accent: #3d63c9; }
  * { box-sizing: border-box; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: var(--ink); background: var(--bg); }
  header { display: flex; gap: 1rem; align-items: center; padding: .9rem 1.4rem; background: #1d2330; color: #fff; }
  header h1 { font-size: 1.15rem; margin: 0; font-weight: 600; }
  header .facts { color: #c9cfdd; font-size: .9rem; }
  .badge { display: inline-block; padding: .05rem .55rem; border-radius: .8rem; font-size: .8rem; font-weight: 600; }
  .badge.primary { background: var(--ok); color: #fff; }
  .badge.joining { background: var(--warn); color: #fff; }
  .badge.outside, .badge.left, .badge.offline { background: var(--bad); color: #fff; }
  .badge.coord { background: #ffd666; color: #3b2a00; }
  #conn { margin-left: auto; font-size: .85rem; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.1fr); gap: 1rem; padding: 1rem 1.4rem; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .7rem .9rem; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: .95rem; margin: 0 0 .5rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border-bottom: 1px solid var(--line); padding: .3rem .45rem; text-align: left; vertical-align: top; }
  th { color: var(--muted); font-weight: 600; font-size: .8rem; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  code { font: 12px ui-monospace, monospace; }
  .muted { color: var(--muted); }
  .pill { display: inline-block; padding: 0 .45rem; margin: 0 .2rem .2rem 0; border-radius: .7rem; background: #e6ecf7; font-size: .85rem; }
  .pill.join { background: #d9f2e3; }
  .pill.leave { background: #e8e8ee; }
  .pill.crash, .pill.partition, .pill.expelled { background: #fbdcdc; }
  .suspected { color: var(--bad); font-weight: 600; }
  ol#timeline { list-style: none; padding: 0; margin: 0; max-height: 34rem; overflow-y: auto; }
  ol#timeline li { border-left: 4px solid var(--accent); padding: .3rem .6rem; margin-bottom: .35rem; background: #fbfcff; }
  ol#timeline li.group-view { border-left-color: #8aa4d6; }
  ol#timeline li.mode { border-left-color: var(--bad); }
  ol#timeline li.fresh { animation: flash 1.5s ease-out; }
  @keyframes flash { from { background: #fff3bf; } to { background: #fbfcff; } }
  .when { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: .4rem; }
  .dur { color: var(--muted); font-size: .85rem; margin-left: .4rem; }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1 id="title">chorusd</h1>
  <span id="mode" class="badge offline" data-mode="">connecting</span>
  <span id="coordinator" class="badge coord" hidden>coordinator</span>
  <span class="facts" id="facts"></span>
  <span id="conn" class="muted">connecting…</span>
</header>
<main>
  <section>
    <h2>Daemon view <span id="view-id" class="muted"></span></h2>
    <div id="members"></div>
  </section>
  <section>
    <h2>Links from this daemon</h2>
    <div id="links"></div>
  </section>
  <section class="wide">
    <h2>Groups</h2>
    <div id="groups"></div>
  </section>
  <section class="wide">
    <h2>Timeline</h2>
    <ol id="timeline"></ol>
  </section>
</main>
<script>
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };
  const short = (key) => String(key).split('#')[0];
  const ms = (v) => (typeof v === 'number' ? (v < 10 ? v.toFixed(2) : Math.round(v)) + ' ms' : '–');
  const table = (columns, rows) => {
    if (rows.length === 0) return el('div', { class: 'muted' }, 'none');
    return el('table', {},
      el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', {}, c)))),
      el('tbody', {}, ...rows));
  };
  const MODES = { normal: 'primary', flushing: 'primary · view change', joining: 'outside the primary · joining', left: 'left' };
  const MODE_CLASS = { normal: 'primary', flushing: 'primary', joining: 'joining', left: 'left' };

  const renderStatus = (s) => {
    const d = s.daemon || {};
    $('title').textContent = 'chorusd ' + (d.name || '');
    document.title = 'chorusd ' + (d.name || '');
    const mode = $('mode');
    mode.className = 'badge ' + (MODE_CLASS[d.mode] || 'offline');
    mode.dataset.mode = d.mode || '';
    mode.textContent = MODES[d.mode] || d.mode || '?';
    $('coordinator').hidden = !d.coordinator;
    $('facts').textContent = 'cluster ' + (d.cluster || '') + ' · incarnation ' + (d.incarnation || '') + ' · ' + (s.clients ?? 0) + ' local client(s) · up ' + (d.uptimeS ?? 0) + ' s';
    const view = s.daemonView || {};
    $('view-id').textContent = view.id === undefined || view.id === null ? '(none)' : '#' + view.id;
    const members = Array.isArray(view.members) ? view.members : [];
    $('members').replaceChildren(table(['daemon', 'incarnation', 'role', 'state', 'clients', 'address'], members.map((m) =>
      el('tr', { 'data-member': m.name },
        el('td', {}, el('b', {}, m.name)),
        el('td', {}, el('code', {}, m.incarnation)),
        el('td', {}, m.coordinator ? el('span', { class: 'badge coord' }, 'coordinator') : 'member'),
        el('td', { class: m.suspected ? 'suspected' : '' }, m.suspected ? 'suspected' : 'ok'),
        el('td', { class: 'num' }, m.clients ?? 0),
        el('td', {}, el('code', {}, m.advertise || ''))))));
    const links = Array.isArray(s.links) ? s.links : [];
    $('links').replaceChildren(table(['to', 'link', 'round trip', 'queued'], links.map((l) =>
      el('tr', { 'data-peer': l.peer },
        el('td', {}, short(l.peer)),
        el('td', { class: l.suspected ? 'suspected' : '' }, l.suspected ? 'suspected' : l.up ? 'up' : 'down'),
        el('td', { class: 'num' }, ms(l.rttMs)),
        el('td', { class: 'num' }, (l.queuedBytes ?? 0) + ' B')))));
    const groups = Array.isArray(s.groups) ? s.groups : [];
    $('groups').replaceChildren(table(['group', 'view', 'members', 'msgs/s'], groups.map((g) =>
      el('tr', { 'data-group': g.name },
        el('td', {}, el('b', {}, g.name)),
        el('td', { class: 'num' }, g.viewId),
        el('td', {}, ...(g.members || []).map((m) => el('span', { class: 'pill' }, m))),
        el('td', { class: 'num' }, g.messagesPerS ?? 0)))));
  };

  const changeList = (items, cls) => (items || []).map((x) => el('span', { class: 'pill ' + x.cause, 'data-cause': x.cause, 'data-who': x.member }, (cls === 'daemon' ? short(x.member) : x.member) + ' · ' + x.cause));
  const seen = new Set();
  const addEntry = (e, fresh) => {
    if (seen.has(e.seq)) return;
    seen.add(e.seq);
    const when = el('span', { class: 'when' }, new Date(e.at).toLocaleTimeString());
    let body;
    if (e.kind === 'daemon-view') {
      body = [el('b', {}, 'daemon view ' + e.viewId), ' ', ...changeList(e.joined, 'daemon'), ...changeList(e.left, 'daemon'),
        e.forced ? el('span', { class: 'pill crash' }, 'forced primary') : null,
        (e.joined || []).length + (e.left || []).length === 0 ? el('span', { class: 'muted' }, (e.members || []).map(short).join(', ')) : null,
        e.detectionMs !== undefined ? el('span', { class: 'dur' }, 'detection ' + ms(e.detectionMs)) : null,
        e.flushMs !== undefined ? el('span', { class: 'dur' }, 'flush ' + ms(e.flushMs)) : null];
    } else if (e.kind === 'group-view') {
      body = [el('b', {}, e.group + ' view ' + e.viewId), ' ', ...changeList(e.joined, 'client'), ...changeList(e.left, 'client'),
        el('span', { class: 'muted' }, ' ' + (e.members || []).length + ' member(s)')];
    } else {
      body = [el('b', {}, e.mode || e.kind), e.reason ? el('span', { class: 'muted' }, ' ' + e.reason) : null];
    }
    const li = el('li', { class: e.kind + (fresh ? ' fresh' : ''), 'data-seq': e.seq, 'data-kind': e.kind, 'data-group': e.group, 'data-view': e.viewId }, when, ...body);
    const list = $('timeline');
    list.prepend(li);
    while (list.children.length > 300) list.lastElementChild.remove();
  };

  let incarnation;
  const connect = () => {
    const source = new EventSource('/events');
    let live = false;
    source.addEventListener('status', (m) => {
      const s = JSON.parse(m.data);
      // A restarted daemon numbers its timeline afresh: start the list over.
      if (incarnation !== undefined && s.daemon && s.daemon.incarnation !== incarnation) { $('timeline').replaceChildren(); seen.clear(); }
      incarnation = s.daemon && s.daemon.incarnation;
      renderStatus(s);
      if (!live) { live = true; }
      $('conn').textContent = 'live · ' + new Date().toLocaleTimeString();
      $('conn').className = 'muted';
    });
    source.addEventListener('timeline', (m) => addEntry(JSON.parse(m.data), live));
    source.onerror = () => {
      $('conn').textContent = 'daemon unreachable, retrying…';
      $('conn').className = 'suspected';
      $('mode').className = 'badge offline';
      $('mode').dataset.mode = 'offline';
      $('mode').textContent = 'unreachable';
    };
  };
  connect();
})();
</script>
</body>
</html>
`;
