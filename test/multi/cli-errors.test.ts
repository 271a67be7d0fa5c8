// The newcomer's stumbles on the command line (issue 15, must-have 6), with the real
// `chorus` and `chorusd` processes: a dead port, the wrong kind of port, a wrong token and
// a port already in use each end in one line naming the port and what to do, never a
// stack or a raw ECONNREFUSED, and chorusd never joins anything before its ports are bound.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../../daemon/cli.js';
import { freePort, startChorusd, type DaemonProcess } from './harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs bin/`bin`.js with `args` (and `env` added) to its end; killed after 15 s. */
async function run(bin: 'chorus' | 'chorusd', args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const proc = spawn(process.execPath, [`${root}/bin/${bin}.js`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CHORUS_TOKEN: '', CHORUS_ADMIN_TOKEN: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  const [code] = (await once(proc, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}


/** stderr as its lines; the tool must print exactly one. */
const lines = (r: Run): string[] => r.stderr.trimEnd().split('\n');

let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await startChorusd('cli-errors', { args: ['--client-token', 's3cret', '--admin-token', 'adm1n'] });
});

afterAll(async () => {
  await daemon?.stop();
});

describe('chorus against a port where no daemon listens', () => {
  it('says ERR_CONNECT, which port and "connection refused" in one line, and exits 1', async () => {
    const port = await freePort();
    const [status, force, send, tail] = await Promise.all([
      run('chorus', ['status', '--admin', `127.0.0.1:${port}`]),
      run('chorus', ['force-primary', '--admin', `127.0.0.1:${port}`]),
      run('chorus', ['send', 'g', 'hi', '--url', `ws://127.0.0.1:${port}`]),
      run('chorus', ['tail', 'g', '--url', `127.0.0.1:${port}`]),
    ]);
    for (const r of [status, force]) {
      expect(r.code).toBe(1);
      expect(lines(r)).toEqual([
        `chorus: ERR_CONNECT cannot reach the daemon's admin port at 127.0.0.1:${port} (connection refused): is chorusd running, and is 127.0.0.1:${port} its --admin address?`,
      ]);
    }
    for (const r of [send, tail]) {
      expect(r.code).toBe(1);
      expect(lines(r)).toEqual([
        `chorus: ERR_CONNECT cannot reach the daemon's client port at 127.0.0.1:${port} (connection refused): is chorusd running, and is 127.0.0.1:${port} its --client address?`,
      ]);
    }
  });
});

describe('chorus pointed at the wrong kind of port', () => {
  it('an admin command at the client port says so and suggests --admin', async () => {
    const [status, force] = await Promise.all([
      run('chorus', ['status', '--admin', daemon.client]),
      run('chorus', ['force-primary', '--admin', daemon.client, '--token', 'adm1n']),
    ]);
    for (const r of [status, force]) {
      expect(r.code).toBe(1);
      expect(lines(r)).toHaveLength(1);
      expect(r.stderr).toMatch(
        new RegExp(`^chorus: ERR_WRONG_PORT ${daemon.client.replaceAll('.', '\\.')} is the daemon's client \\(WebSocket\\) port, not its admin port \\(try --admin HOST:PORT`),
      );
    }
  });

  it('tail and send at the admin port say so and suggest --url with the client address', async () => {
    const [send, tail] = await Promise.all([
      run('chorus', ['send', 'g', 'hi', '--url', daemon.admin, '--token', 's3cret']),
      run('chorus', ['tail', 'g', '--url', `ws://${daemon.admin}`, '--token', 's3cret']),
    ]);
    for (const r of [send, tail]) {
      expect(r.code).toBe(1);
      expect(lines(r)).toEqual([`chorus: ERR_WRONG_PORT ${daemon.admin} is the daemon's admin (HTTP) port, not its client port (try --url ws://${daemon.client})`]);
    }
  });
});

describe('chorus with a missing or wrong token', () => {
  // In-process (the same runCli as bin/chorus.js): the spawned runs above already show
  // the one-line shape, and five more Node start-ups would double this file's time.
  async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const saved = { CHORUS_TOKEN: process.env.CHORUS_TOKEN, CHORUS_ADMIN_TOKEN: process.env.CHORUS_ADMIN_TOKEN };
    delete process.env.CHORUS_TOKEN;
    delete process.env.CHORUS_ADMIN_TOKEN;
    Object.assign(process.env, env);
    try {
      const code = await runCli(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
      return { code, stdout, stderr };
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  it('says ERR_AUTH and names --token and the variable to set', async () => {
    const none = await cli(['send', 'g', 'hi', '--url', daemon.client]);
    const wrong = await cli(['send', 'g', 'hi', '--url', daemon.client, '--token', 'nope']);
    const wrongEnv = await cli(['tail', 'g', '--url', daemon.client], { CHORUS_TOKEN: 'nope' });
    const adminNone = await cli(['force-primary', '--admin', daemon.admin]);
    const adminWrong = await cli(['force-primary', '--admin', daemon.admin, '--token', 'nope']);
    for (const r of [none, wrong, wrongEnv, adminNone, adminWrong]) {
      expect(r.code).toBe(1);
      expect(lines(r)).toHaveLength(1);
      expect(r.stderr).toMatch(/^chorus: ERR_AUTH .*--token/);
    }
    expect(none.stderr).toMatch(/requires a client token: give it with --token T or the CHORUS_TOKEN variable/);
    expect(wrong.stderr).toMatch(/refused the client token from --token: give the daemon's --client-token with --token T or the CHORUS_TOKEN variable/);
    expect(wrongEnv.stderr).toMatch(/refused the client token from CHORUS_TOKEN:/);
    expect(adminNone.stderr).toMatch(/needs its admin token for force-primary: give it with --token A or the CHORUS_ADMIN_TOKEN variable/);
    expect(adminWrong.stderr).toMatch(/refused the admin token from --token:/);
  });
});

describe('chorusd with a port already in use', () => {
  it('fails at once with ERR_LISTEN naming the port, before any view, and exits 1', async () => {
    const [, port] = /:(\d+)$/.exec(daemon.client)!;
    const r = await run('chorusd', ['--name', 'second', '--listen', '127.0.0.1:0', '--client', daemon.client, '--admin', '127.0.0.1:0', '--log-level', 'info']);
    expect(r.code).toBe(1);
    expect(lines(r)).toEqual([
      `chorusd: ERR_LISTEN port ${port} (client) is already in use: another chorusd or another program listens on ${daemon.client} (choose another with --client HOST:PORT, or port 0 for any free port)`,
    ]);
    // It bound its peer port, then stopped: no view installed, no ready line.
    expect(r.stdout).not.toMatch(/daemon view installed|"msg":"ready"/);
  });
});
