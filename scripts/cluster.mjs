// `npm run cluster`: three local daemons a, b, c in one terminal, each output line
// prefixed [a] / [b] / [c]. a starts a new cluster; b and c join it through a's peer
// port once a is ready. Extra arguments go to every daemon:
//   npm run cluster -- --log-level debug
// Ctrl-C (or SIGTERM) is forwarded to each daemon once, youngest first, so each leaves
// the daemon view cleanly; a second Ctrl-C kills them. The script exits when all three
// have exited.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prettyFactory } from 'pino-pretty';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chorusd = join(root, 'bin/chorusd.js');
if (!existsSync(join(root, 'dist/daemon/index.js'))) {
  process.stderr.write('cluster: dist/ is missing: run npm run build first (npm run cluster does)\n');
  process.exit(1);
}

const extra = process.argv.slice(2);
const seed = '127.0.0.1:7501';
const daemons = [
  { name: 'a', client: '127.0.0.1:7401', listen: '127.0.0.1:7501', admin: '127.0.0.1:7601', seeds: undefined },
  { name: 'b', client: '127.0.0.1:7402', listen: '127.0.0.1:7502', admin: '127.0.0.1:7602', seeds: seed },
  { name: 'c', client: '127.0.0.1:7403', listen: '127.0.0.1:7503', admin: '127.0.0.1:7603', seeds: seed },
];

const tty = process.stdout.isTTY === true;
const COLORS = { a: 36, b: 35, c: 33, cluster: 32 }; // cyan, magenta, yellow, green
const paint = (code, text) => (tty ? `\u001b[${code}m${text}\u001b[0m` : text);
const tag = (name) => paint(COLORS[name] ?? 37, `[${name}]`);
// On a terminal, the daemons' JSON log lines (their stdout is a pipe, so they log JSON)
// are shown pretty; otherwise they pass through untouched for tools to parse.
const pretty = tty ? prettyFactory({ colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,daemon' }) : undefined;

function say(name, line) {
  let text = line;
  if (pretty && line.startsWith('{')) {
    try {
      const record = JSON.parse(line);
      if (typeof record.level === 'number') text = pretty(record).replace(/\n+$/, '');
    } catch {
      // not JSON: show as is
    }
  }
  for (const part of text.split('\n')) process.stdout.write(`${tag(name)} ${part}\n`);
}

/** name → { child, exited: Promise<number|null> } */
const running = new Map();
let stopping = false;
let failed = false;

function start(daemon, onReady) {
  const args = ['--name', daemon.name, '--client', daemon.client, '--listen', daemon.listen, '--admin', daemon.admin];
  if (daemon.seeds) args.push('--seeds', daemon.seeds);
  // Own process group: a terminal's Ctrl-C reaches only this script, which forwards it
  // exactly once (a daemon may treat a second SIGINT as "exit now").
  const child = spawn(process.execPath, [chorusd, ...args, ...extra], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let ready = false;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      say(daemon.name, line);
      if (!ready && line.includes('"msg":"ready"')) {
        ready = true;
        onReady?.();
      }
    });
  }
  const exited = new Promise((resolve) => {
    child.on('error', (err) => {
      say(daemon.name, `cannot start: ${err.message}`);
      failed = true;
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      say(daemon.name, `exited with ${signal ?? `code ${code}`}`);
      if (!stopping && !ready) failed = true; // died before it was ready
      if (code !== 0 && !(stopping && signal)) failed = true;
      resolve(code);
    });
  });
  running.set(daemon.name, { child, exited });
  return exited;
}

function alive(child) {
  return child.exitCode === null && child.signalCode === null;
}

function signalOne(name, child, signal) {
  if (!alive(child)) return;
  try {
    process.kill(-child.pid, signal); // the daemon's process group
  } catch {
    try {
      child.kill(signal);
    } catch {
      say(name, `could not send ${signal}`);
    }
  }
}

function signalAll(signal) {
  for (const [name, { child }] of running) signalOne(name, child, signal);
}

/**
 * Stops the daemons one at a time, youngest first (c, b, then a): each leaves while the
 * coordinator (the oldest, a) is still there to run its view change, so every leave is
 * clean and quick. Stopping all at once would make the coordinator leave while others
 * are leaving too, which this version only resolves by their leave timeout.
 */
async function stopInTurn(signal) {
  for (const [name, { child, exited }] of [...running].reverse()) {
    if (!alive(child)) continue;
    signalOne(name, child, signal);
    await exited;
  }
}

function onSignal(signal) {
  if (!stopping) {
    stopping = true;
    say('cluster', `${signal}: stopping the daemons, youngest first (again to kill them)`);
    void stopInTurn(signal);
  } else {
    signalAll('SIGKILL');
  }
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
// Last resort if this script dies some other way: do not leave daemons behind.
process.on('exit', () => signalAll('SIGKILL'));

let readyCount = 0;
function onDaemonReady() {
  readyCount += 1;
  if (readyCount === daemons.length) {
    say('cluster', 'all three daemons are ready. In another terminal, try:');
    say('cluster', '  node bin/chorus.js tail orders --url ws://127.0.0.1:7401');
    say('cluster', '  node bin/chorus.js send orders "hello" --url ws://127.0.0.1:7402');
    say('cluster', '  node bin/chorus.js status --admin 127.0.0.1:7601');
  }
}

const [first, ...others] = daemons;
const exits = [
  start(first, () => {
    onDaemonReady();
    // b and c join through a, so they start once a accepts peers.
    if (!stopping) for (const daemon of others) exits.push(start(daemon, onDaemonReady));
  }),
];

// Wait until every started daemon has exited (b and c are added once a is ready).
let settled = 0;
while (settled < exits.length) {
  const waiting = exits.length;
  await Promise.all(exits.slice(settled));
  settled = waiting;
}
process.exitCode = failed ? 1 : 0;
