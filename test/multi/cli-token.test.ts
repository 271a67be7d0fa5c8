// The command-line tool reaches a daemon that requires a client token (issue 15: `chorus
// send x hi --token s3cret` said "Unknown option '--token'").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../../daemon/cli.js';
import { startChorusd, type DaemonProcess } from './harness.js';

let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await startChorusd('tok', { args: ['--client-token', 's3cret'] });
});

afterAll(async () => {
  await daemon?.stop();
});

function io(): { out: string[]; io: { out: (t: string) => void; err: (t: string) => void } } {
  const out: string[] = [];
  return { out, io: { out: (t) => void out.push(t), err: (t) => void out.push(t) } };
}

describe('chorus send --token', () => {
  it('is refused without the token, and works with --token or CHORUS_TOKEN', async () => {
    const url = `ws://${daemon.client}`;
    const without = io();
    expect(await runCli(['send', 'g', 'hi', '--url', url], without.io)).not.toBe(0);
    expect(without.out.join('\n')).toMatch(/ERR_AUTH/);
    const flag = io();
    expect(await runCli(['send', 'g', 'hi', '--url', url, '--token', 's3cret'], flag.io)).toBe(0);
    process.env.CHORUS_TOKEN = 's3cret';
    try {
      const env = io();
      expect(await runCli(['send', 'g', 'hi', '--url', url], env.io)).toBe(0);
    } finally {
      delete process.env.CHORUS_TOKEN;
    }
  });
});
