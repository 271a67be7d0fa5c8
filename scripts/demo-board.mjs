// `npm run demo:board`: the shared whiteboard of examples/board on two local daemons that
// serve the page themselves (chorusd --serve-dir examples/board). Prints the URLs to open.
//
//   npm run demo:board                                   # clients on 7481 and 7482
//   npm run demo:board -- --clients 127.0.0.1:0,127.0.0.1:0   # any free ports
//
// Daemon a founds the cluster, b joins it through a. Their logs are shown at `warn`
// (pass --log-level info after `--` for more). Ctrl-C stops b, then a, each leaving
// cleanly; a second Ctrl-C kills them. To see a crash, kill -9 the pid of b that the
// script prints: b's pages lose their daemon and the others log their members as
// `crash`. (Killing a instead leaves b alone with half of the cluster and without its
// oldest daemon: not a primary component, so b's pages are expelled, `partitioned`.)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prettyFactory } from 'pino-pretty';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chorusd = join(root, 'bin/chorusd.js');
const boardDir = join(root, 'examples/board');
for (const built of ['dist/daemon/index.js', 'dist/browser/chorus-client.js']) {
  if (!existsSync(join(root, built))) {
    process.stderr.write(`demo:board: ${built} is missing: run npm run build first (npm run demo:board does)\n`);
    process.exit(1);
  }
}

const { values, positionals } = parseArgs({
  options: {
    clients: { type: 'string', default: '127.0.0.1:7481,127.0.0.1:7482' },
    'log-level': { type: 'string', default: 'warn' },
  },
  allowPositionals: true,
});
if (positionals.length > 0) {
  process.stderr.write(`demo:board: unexpected argument ${positionals[0]} (flags: --clients A,B --log-level L)\n`);
  process.exit(2);
}
const clients = values.clients.split(',');
if (clients.length !== 2) {
  process.stderr.write('demo:board: --clients takes two host:port, one per daemon\n');
  process.exit(2);
}

// On a terminal the daemons' JSON log lines are shown pretty, as npm run cluster does.
const pretty = process.stdout.isTTY
  ? prettyFactory({ colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,daemon' })
  : undefined;
function say(name, line) {
  let text = line;
  if (pretty && line.startsWith('{')) {
    try {
      const record = JSON.parse(line);
      if (typeof record.level === 'number') text = pretty(record).replace(/\n+$/, '');
    } catch {
      // not JSON: as is
    }
  }
  process.stdout.write(`[${name}] ${text}\n`);
}
const children = [];
let stopping = false;

/** Starts one daemon; resolves with its ready line's fields. */
function start(name, client, seeds) {
  const args = [
    chorusd,
    '--name', name,
    '--client', client,
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--serve-dir', boardDir,
    '--heartbeat-ms', '100',
    '--suspect-ms', '1000',
    '--log-level', values['log-level'],
    ...(seeds ? ['--seeds', seeds] : []),
  ];
  // Own process group: Ctrl-C reaches this script only, which forwards it once.
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    say(name, `exited with ${signal ?? `code ${code}`}`);
    resolve(code);
  }));
  children.push({ name, child, exited });
  return new Promise((resolve, reject) => {
    let ready = false;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        if (!ready && line.includes('"msg":"ready"')) {
          ready = true;
          resolve(JSON.parse(line));
          return;
        }
        say(name, line);
      });
    }
    void exited.then((code) => {
      if (!ready) reject(new Error(`daemon ${name} exited with ${code} before it was ready`));
    });
  });
}

async function stopAll(signal) {
  // Youngest first, so each leaves while the oldest is still there to run the view change.
  for (const { child, exited } of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
    await exited;
  }
}

function onSignal(signal) {
  if (stopping) {
    for (const { child } of children) child.kill('SIGKILL');
    return;
  }
  stopping = true;
  say('board', `${signal}: stopping the daemons (again to kill them)`);
  void stopAll(signal).then(() => process.exit(0));
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('exit', () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

try {
  const a = await start('a', clients[0]);
  const b = await start('b', clients[1], a.listen);
  const [pa, pb] = children.map((c) => c.child.pid);
  say('board', 'two daemons serve the board. Open, each in its own window:');
  say('board', `  http://${a.client}/?name=alice     (daemon a, pid ${pa})`);
  say('board', `  http://${a.client}/?name=bob       (daemon a)`);
  say('board', `  http://${b.client}/?name=carol     (daemon b, pid ${pb})`);
  say('board', 'Draw in one: every window shows the same drawing. A window opened later gets it by state transfer.');
  say('board', `Close a window: the others log "left: leave". kill -9 ${pb} (daemon b): carol shows as "left: crash".`);
  say('board', 'Ctrl-C stops both daemons.');
} catch (err) {
  say('board', err instanceof Error ? err.message : String(err));
  await stopAll('SIGKILL');
  process.exit(1);
}
