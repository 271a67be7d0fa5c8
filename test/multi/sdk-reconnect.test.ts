// `connect({ reconnect: true })` over real processes: a client's daemon is SIGKILLed and
// started again on the same client port. The client must say so (`disconnect`), refuse
// calls meanwhile, redial, rejoin its group on the same handle with state transfer from
// the member on the daemon that stayed up, and send and receive again.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type ChorusError, type Client, type Message, type View } from '../../client-sdk/index.js';
import { startChorusd, waitFor, type DaemonProcess } from './harness.js';

const FAST = ['--heartbeat-ms', '100', '--suspect-ms', '800'];
const text = new TextDecoder();

describe('SDK reconnect over a daemon restart', () => {
  const daemons: DaemonProcess[] = [];
  const clients: Client[] = [];

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
  });

  it('SIGKILL then restart on the same port: disconnect, ERR_DISCONNECTED meanwhile, the same handle rejoins with state, then messages flow', async () => {
    const a = await startChorusd('a', { args: FAST });
    daemons.push(a);
    const b = await startChorusd('b', { args: FAST, seeds: [a.listen] });
    daemons.push(b);
    await waitFor('a daemon view of two', async () => (await a.status()).daemonView.members.length === 2);

    // The member that stays: it provides the group's state (what it has received).
    const stayer = await connect({ url: a.url, name: 'stayer' });
    clients.push(stayer);
    const received: string[] = [];
    const stayerGroup = await stayer.join('ledger', { state: { provide: () => new TextEncoder().encode(received.join(',')) } });
    stayerGroup.on('message', (m: Message) => received.push(text.decode(m.data)));
    await stayerGroup.multicast('before', { wait: 'delivered' });

    // The member whose daemon goes: it installs the state on every (re)join.
    const installs: string[] = [];
    const mover = await connect({ url: b.url, name: 'mover', reconnect: true, connectTimeoutMs: 2_000 });
    clients.push(mover);
    const group = await mover.join('ledger', { state: { install: async (state) => void installs.push(text.decode(await state.bytes())) } });
    expect(installs).toEqual(['before']);
    expect(group.view.members).toEqual([stayer.id, mover.id]);
    const firstId = mover.id;

    const events: string[] = [];
    const views: View[] = [];
    const moverMessages: string[] = [];
    let disconnectErr: ChorusError | undefined;
    mover.on('disconnect', (err) => {
      disconnectErr = err;
      events.push('disconnect');
    });
    mover.on('reconnect', () => events.push('reconnect'));
    mover.on('close', () => events.push('close'));
    group.on('view', (v) => {
      views.push(v);
      events.push('view');
    });
    group.on('message', (m) => moverMessages.push(text.decode(m.data)));

    b.proc.kill('SIGKILL');
    await b.exited;
    await waitFor('disconnect', () => events.includes('disconnect'), 5_000);
    expect(disconnectErr).toMatchObject({ name: 'ConnectionError', code: 'ERR_DISCONNECTED' });
    expect(mover.connected).toBe(false);
    await expect(group.multicast('while down')).rejects.toMatchObject({ name: 'ConnectionError', code: 'ERR_DISCONNECTED' });
    // The group moves on without the crashed member; the stayer's message goes into the state.
    await waitFor('the stayer alone in the view', () => stayerGroup.view.members.length === 1, 10_000);
    expect(stayerGroup.view.causes[firstId]).toBe('crash');
    await stayerGroup.multicast('during', { wait: 'delivered' });

    // The same client port: the SDK redials the url it was given.
    const b2 = await startChorusd('b', { args: [...FAST, '--client', b.client], seeds: [a.listen] });
    daemons.push(b2);
    expect(b2.client).toBe(b.client);
    await waitFor('reconnect', () => events.includes('reconnect'), 15_000);

    expect(events).toEqual(['disconnect', 'view', 'reconnect']);
    expect(mover.connected).toBe(true);
    expect(mover.id).not.toBe(firstId);
    expect(installs).toEqual(['before', 'before,during']);
    expect(views).toHaveLength(1);
    expect(group.view).toBe(views[0]);
    expect(group.view.members).toEqual([stayer.id, mover.id]);

    await group.multicast('after', { wait: 'delivered' });
    await waitFor('the stayer to deliver the mover’s message', () => received.includes('after'), 5_000);
    expect(moverMessages).toEqual(['after']);
  }, 30_000);
});
