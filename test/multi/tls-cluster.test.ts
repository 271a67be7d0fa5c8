// Mutual TLS (issue 10, must-have 6): three real chorusd processes whose peer links are
// mutual TLS and whose client gateways are wss://, with certificates from a CA made at
// run time. They form a cluster and deliver the same messages in the same order; a
// daemon whose certificate another CA signed is refused, and so is plaintext.
import { connect as netConnect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connect, type Client, type Message } from '../../client-sdk/index.js';
import { runCli } from '../../daemon/cli.js';
import { encodeLengthPrefixed, encodePeerFrame } from '../../src/wire/index.js';
import { makeCa, writeTemp } from './certs.js';
import { startChorusd, waitFor, type DaemonProcess } from './harness.js';

const PER_CLIENT = 100;
const names = ['a', 'b', 'c'] as const;

describe('three daemons over mutual TLS', () => {
  const daemons: DaemonProcess[] = [];
  const clients: Client[] = [];
  let files: Record<string, string> = {};
  let caPem = '';
  const tlsArgs = (n: string, ca = 'ca.pem') => ['--tls-cert', files[`${n}.crt`]!, '--tls-key', files[`${n}.key`]!, '--tls-ca', files[ca]!];

  beforeAll(() => {
    const ca = makeCa('chorus test CA');
    const other = makeCa('another CA');
    caPem = ca.certPem;
    const contents: Record<string, string> = { 'ca.pem': ca.certPem, 'other-ca.pem': other.certPem };
    for (const n of names) {
      const c = ca.issue(n);
      contents[`${n}.crt`] = c.certPem;
      contents[`${n}.key`] = c.keyPem;
    }
    const rogue = other.issue('rogue');
    contents['rogue.crt'] = rogue.certPem;
    contents['rogue.key'] = rogue.keyPem;
    files = writeTemp(contents);
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
  });

  it('forms a cluster, and every member delivers the same messages in the same order', async () => {
    const a = await startChorusd('a', { args: tlsArgs('a') });
    daemons.push(a);
    daemons.push(...(await Promise.all(['b', 'c'].map((n) => startChorusd(n, { seeds: [a.listen], args: tlsArgs(n) })))));
    await waitFor('a daemon view of 3', async () => {
      const st = await Promise.all(daemons.map((d) => d.status()));
      return st.every((s) => s.daemonView.members.length === 3 && s.daemonView.id === st[0]!.daemonView.id);
    });
    for (const d of daemons) clients.push(await connect({ url: `wss://${d.client}`, name: `app-${d.name}`, ca: caPem }));
    const delivered: Message[][] = [[], [], []];
    const groups = await Promise.all(clients.map((c) => c.join('orders')));
    groups.forEach((g, i) => g.on('message', (m) => delivered[i]!.push(m)));
    await waitFor('every member to see all three', () => groups.every((g) => g.view.members.length === 3));
    await Promise.all(groups.flatMap((g, i) => Array.from({ length: PER_CLIENT }, (_, k) => g.multicast(`${i}:${k}`))));
    await waitFor('all deliveries', () => delivered.every((d) => d.length >= 3 * PER_CLIENT));
    const orders = delivered.map((d) => d.map((m) => `${m.id}|${new TextDecoder().decode(m.data)}`));
    expect(orders[0]!.length).toBe(3 * PER_CLIENT);
    expect(orders[1]).toEqual(orders[0]);
    expect(orders[2]).toEqual(orders[0]);
    for (const d of daemons) expect(d.output.some((l) => l.includes('"msg":"client gateway listening"') && l.includes('"tls":true'))).toBe(true);

    // The command-line tool too, with --ca.
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    expect(await runCli(['send', 'orders', 'from the cli', '--url', `wss://${daemons[1]!.client}`, '--ca', files['ca.pem']!], io)).toBe(0);
    await waitFor('the cli message at every member', () =>
      delivered.every((d) => d.some((m) => new TextDecoder().decode(m.data) === 'from the cli')),
    );
  });

  it('refuses plaintext: a ws:// client, a wss:// client without our CA, a plain TCP hello', async () => {
    const a = daemons[0]!;
    await expect(connect({ url: `ws://${a.client}`, name: 'plain', connectTimeoutMs: 3000 })).rejects.toMatchObject({ code: 'ERR_CONNECT' });
    await expect(connect({ url: `wss://${a.client}`, name: 'no-ca', connectTimeoutMs: 3000 })).rejects.toMatchObject({ code: 'ERR_CONNECT' });
    const [host, port] = [a.listen.slice(0, a.listen.lastIndexOf(':')), Number(a.listen.slice(a.listen.lastIndexOf(':') + 1))];
    const raw = netConnect({ host, port });
    const received: Buffer[] = [];
    raw.on('data', (c: Buffer) => received.push(c));
    raw.on('error', () => {});
    await new Promise<void>((r) => raw.once('connect', () => r()));
    raw.write(encodeLengthPrefixed([encodePeerFrame({
      hello: { protocolMin: 1, protocolMax: 1000, cluster: 'chorus', from: { name: 'plain', incarnation: '1' }, advertise: '127.0.0.1:1' },
    })]));
    await new Promise<void>((r) => raw.once('close', () => r()));
    // No hello reply came back: at most a TLS alert (a TLS record starts with 0x15).
    const bytes = Buffer.concat(received);
    expect(bytes.length === 0 || bytes[0] === 0x15).toBe(true);
  });

  it('refuses a daemon whose certificate another CA signed', async () => {
    const a = daemons[0]!;
    // The rogue trusts our CA (so it is a that must refuse it), its certificate is not ours.
    const rogue = await startChorusd('rogue', { seeds: [a.listen], args: tlsArgs('rogue', 'ca.pem') });
    daemons.push(rogue);
    const refusals = () => a.output.filter((l) => l.includes('refused peer connection: TLS handshake failed'));
    await waitFor('a to refuse the rogue\'s certificate at the TLS handshake', () => refusals().some((l) => l.includes('peer certificate refused')));
    await waitFor('the rogue to log the refusal', () => rogue.output.some((l) => /refused our connection|cannot reach peer/.test(l)));
    // And the other way round: a daemon that trusts only another CA refuses a's certificate.
    const picky = await startChorusd('picky', { seeds: [a.listen], args: tlsArgs('rogue', 'other-ca.pem') });
    daemons.push(picky);
    await waitFor('picky to refuse a\'s certificate', () => picky.output.some((l) => l.includes('SELF_SIGNED_CERT_IN_CHAIN')));
    await new Promise((r) => setTimeout(r, 500));
    const st = await a.status();
    expect(st.daemonView.members.map((m) => m.name).sort()).toEqual(['a', 'b', 'c']);
    expect((await rogue.status()).daemonView.members.map((m) => m.name)).not.toContain('a');
  });
});
