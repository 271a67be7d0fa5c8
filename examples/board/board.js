// The board page: joins group `board` through the daemon that served it, draws what the
// group delivers, and shows the group's view as it changes.
//
//   - A stroke is sent as one `total` multicast when the pen lifts, and drawn only when
//     it is delivered: every page draws the same strokes in the same order.
//   - A page that opens later takes the drawing by state transfer: provide() at an
//     existing member returns its snapshot at an exact point of the order, install() at
//     the joiner replaces its (empty) drawing with it before any later stroke.
//   - The panel lists the members of the current view and logs each change with its
//     cause: join, leave (a page closed or left), crash (its connection or its daemon
//     died), partition (cut off by a partition), expelled.
//
// URL parameters: ?name=NAME (the client's name, default "page"), ?daemon=ws://host:port
// (default: the daemon this page came from), ?group=NAME (default "board").
// window.board exposes the page's state to scripts (the browser test reads it).

import { connect } from '/chorus.js';
import { Drawing, HEIGHT, MAX_POINT_NUMBERS, WIDTH, clearCommand, strokeCommand } from './drawing.js';

const params = new URLSearchParams(location.search);
const name = params.get('name') || 'page';
const groupName = params.get('group') || 'board';
const daemonUrl = params.get('daemon') || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324', '#000075', '#808000'];
const PEN_WIDTH = 4;

const $ = (id) => document.getElementById(id);
const boardCanvas = $('board');
const penCanvas = $('pen');
const board = boardCanvas.getContext('2d');
const pen = penCanvas.getContext('2d');

const drawing = new Drawing();
/** Every view change as the page logged it: { viewId, member, cause }. */
const events = [];
/** Strokes the snapshot held when this page installed it (null: it installed none). */
let installedStrokes = null;
let group;
let client;

function colorOf(member) {
  let h = 0;
  for (const ch of member) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

// ------------------------------------------------------------------ drawing

function paintStroke(ctx, stroke) {
  const p = stroke.points;
  ctx.strokeStyle = stroke.color;
  ctx.lineWidth = stroke.width;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(p[0], p[1]);
  // A single point still shows, as a dot.
  if (p.length === 2) ctx.lineTo(p[0] + 0.1, p[1]);
  for (let i = 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
  ctx.stroke();
}

function repaint() {
  board.clearRect(0, 0, WIDTH, HEIGHT);
  for (const s of drawing.strokes) paintStroke(board, s);
  showDigest();
}

function showDigest() {
  $('digest').textContent = `${drawing.strokes.length} strokes, digest ${drawing.digest()}`;
}

/** Board units of a pointer event. */
function pointOf(event) {
  const r = penCanvas.getBoundingClientRect();
  const x = Math.round(((event.clientX - r.left) / r.width) * WIDTH);
  const y = Math.round(((event.clientY - r.top) / r.height) * HEIGHT);
  return [Math.min(WIDTH, Math.max(0, x)), Math.min(HEIGHT, Math.max(0, y))];
}

let current; // the stroke being drawn: its points

penCanvas.addEventListener('pointerdown', (event) => {
  if (!group) return;
  penCanvas.setPointerCapture(event.pointerId);
  current = pointOf(event);
});

penCanvas.addEventListener('pointermove', (event) => {
  if (!current) return;
  const [x, y] = pointOf(event);
  const n = current.length;
  if (Math.abs(x - current[n - 2]) + Math.abs(y - current[n - 1]) < 2 || n + 2 > MAX_POINT_NUMBERS) return;
  current.push(x, y);
  pen.clearRect(0, 0, WIDTH, HEIGHT);
  paintStroke(pen, { color: colorOf(client.id), width: PEN_WIDTH, points: current });
});

function finishStroke() {
  if (!current) return;
  const points = current;
  current = undefined;
  // The preview stays until the stroke comes back delivered, in its place of the order.
  group.multicast(strokeCommand(colorOf(client.id), PEN_WIDTH, points), { order: 'total' }).catch((err) => {
    pen.clearRect(0, 0, WIDTH, HEIGHT);
    note(`stroke not sent: ${err.code ?? err.message}`);
  });
}
penCanvas.addEventListener('pointerup', finishStroke);
penCanvas.addEventListener('pointercancel', finishStroke);

$('clear').addEventListener('click', () => {
  group?.multicast(clearCommand(), { order: 'total' }).catch((err) => note(`clear not sent: ${err.code ?? err.message}`));
});

// ------------------------------------------------------------------ the view panel

function setStatus(state, text) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
}

function note(text, attrs = {}) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  Object.assign(li.dataset, attrs);
  $('log').prepend(li);
}

function showView(view) {
  $('view-id').textContent = `(view ${view.id})`;
  const list = $('members');
  list.replaceChildren(
    ...view.members.map((m) => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = colorOf(m);
      li.append(swatch, m === client.id ? `${m} (this page)` : m);
      li.dataset.member = m;
      if (m === client.id) li.dataset.self = '';
      return li;
    }),
  );
}

function logView(view) {
  for (const m of view.joined) {
    events.push({ viewId: view.id, member: m, cause: 'join' });
    note(`${m} joined`, { member: m, cause: 'join' });
  }
  for (const m of view.left) {
    const cause = view.causes[m] ?? 'crash';
    events.push({ viewId: view.id, member: m, cause });
    note(`${m} left: ${cause}`, { member: m, cause });
  }
}

// ------------------------------------------------------------------ the group

async function start() {
  client = await connect({ url: daemonUrl, name });
  $('me').textContent = `you are ${client.id}`;
  client.on('close', (err) => {
    setStatus('closed', err ? `disconnected: ${err.code ?? err.message}` : 'closed');
    if (err) note(`lost the daemon (${err.code ?? err.message}): the view above is the last one this page saw`);
    $('clear').disabled = true;
    group = undefined;
  });
  const joined = await client.join(groupName, {
    state: {
      provide: () => drawing.snapshot(),
      install: async (state) => {
        drawing.restore(await state.bytes());
        installedStrokes = drawing.strokes.length;
      },
    },
  });
  // Listeners right after join() resolves: events after the first view wait for them.
  joined.on('message', (msg) => {
    const change = drawing.apply(msg.sender, msg.data);
    if (change === 'stroke') {
      if (msg.sender === client.id) pen.clearRect(0, 0, WIDTH, HEIGHT);
      paintStroke(board, drawing.strokes[drawing.strokes.length - 1]);
      showDigest();
    } else if (change === 'clear') {
      repaint();
      note(`${msg.sender} cleared the board`);
    }
  });
  joined.on('view', (view) => {
    showView(view);
    logView(view);
  });
  joined.on('expelled', (reason) => {
    setStatus('expelled', `expelled: ${reason}`);
    note(`this page was expelled: ${reason}`, { member: client.id, cause: 'expelled', reason });
    group = undefined;
  });
  group = joined;
  showView(joined.view);
  logView(joined.view);
  repaint();
  setStatus('member', installedStrokes === null ? 'first on the board' : `joined with ${installedStrokes} strokes`);
  $('clear').disabled = false;
}

// Closing the tab leaves the group on purpose, so the others see `leave`, not `crash`:
// leave() queues its request and close() sends it before the close frame, synchronously.
addEventListener('pagehide', () => {
  if (!client) return;
  group?.leave().catch(() => {});
  client.close().catch(() => {});
});

const ready = start().catch((err) => {
  setStatus('failed', `could not join: ${err.code ?? err.message}`);
  throw err;
});

window.board = {
  ready,
  /** What the page holds now (for scripts and the test). */
  state: () => ({
    id: client?.id,
    member: group !== undefined,
    strokes: drawing.strokes.length,
    digest: drawing.digest(),
    installedStrokes,
    view: group?.view,
    events: [...events],
  }),
};
