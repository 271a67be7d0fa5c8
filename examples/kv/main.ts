// The kv replica process:
//   node dist/examples/kv/main.js --daemon ws://127.0.0.1:7400 --http 127.0.0.1:8080 --group kv
// Once it is a member of the group (with the group's state) and serves HTTP, it prints one
// JSON line on stdout: {"msg":"ready","http":"host:port",...}. Logs go to stderr, one JSON
// object a line. SIGTERM/SIGINT: leave the group, close, exit 0.

import { parseArgs } from 'node:util';
import { startHttpFront } from './http-front.js';
import { KvReplica } from './kv-replica.js';

const USAGE = `usage: node dist/examples/kv/main.js [--daemon ws://127.0.0.1:7400] [--http 127.0.0.1:8080]
       [--group kv] [--name kv] [--no-state-transfer] [--state-wait-ms N]
  --http host:port   port 0 picks a free port (the ready line tells which)
  --state-wait-ms N  how long a join waits for a replica to take the map from, while the
                     members present do not provide (a chorus tail); then this replica
                     starts with an empty map (default 10000)
  --no-state-transfer  join without taking the group's state: only for replicas that all
                     start before the first write (e.g. against a daemon without state transfer)`;

function log(record: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
}

function die(message: string): never {
  process.stderr.write(`kv: ${message}\n${USAGE}\n`);
  process.exit(2);
}

/** "host:port" or "[v6]:port" → parts. */
function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  if (!match) die(`--http wants host:port, got ${JSON.stringify(value)}`);
  const port = Number(match[3]);
  if (port > 65535) die(`bad port in ${JSON.stringify(value)}`);
  return { host: (match[1] ?? match[2])!, port };
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        daemon: { type: 'string', default: 'ws://127.0.0.1:7400' },
        http: { type: 'string', default: '127.0.0.1:8080' },
        group: { type: 'string', default: 'kv' },
        name: { type: 'string', default: 'kv' },
        'no-state-transfer': { type: 'boolean', default: false },
        'state-wait-ms': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    die(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { host, port } = parseHostPort(values.http);
  const stateWaitMs = values['state-wait-ms'] === undefined ? undefined : Number(values['state-wait-ms']);
  if (stateWaitMs !== undefined && !(Number.isInteger(stateWaitMs) && stateWaitMs >= 1 && stateWaitMs <= 600_000)) {
    die(`--state-wait-ms wants 1..600000, got ${JSON.stringify(values['state-wait-ms'])}`);
  }
  const replica = new KvReplica({
    url: values.daemon,
    group: values.group,
    name: values.name,
    stateTransfer: !values['no-state-transfer'],
    ...(stateWaitMs !== undefined ? { stateWaitMs } : {}),
    log,
  });
  replica.onFatal = (err) => {
    log({ msg: 'fatal', err: err.message });
    process.exit(1);
  };
  // HTTP first: /health answers (503) while the replica joins.
  const front = await startHttpFront(replica, host, port);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1); // a second signal: now
    stopping = true;
    log({ msg: 'stopping', signal });
    void Promise.all([replica.stop(), front.close()]).finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  await replica.start();
  if (stopping) return;
  const info = replica.info();
  process.stdout.write(
    `${JSON.stringify({ msg: 'ready', http: front.address, group: values.group, member: info.member, view: info.view?.id, size: info.size })}\n`,
  );
}

main().catch((err: unknown) => {
  log({ msg: 'fatal', err: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
