// Fault scenarios on the simulator, each checked by the virtual-synchrony checker.
import { describe, expect, it } from 'vitest';
import { checkHistory, checkLiveness, formatViolations } from '../checker/index.js';
import { SimCluster, type SimClient } from './sim-cluster.js';

const SUSPECT_MS = 300;
const HEARTBEAT_MS = 50;

function cluster(seed: number, names: readonly string[]): SimCluster {
  const sim = new SimCluster({ seed, heartbeatMs: HEARTBEAT_MS, suspectMs: SUSPECT_MS });
  sim.addDaemon(names[0]!);
  for (const n of names.slice(1)) sim.addDaemon(n, names[0]!);
  sim.runUntil(() => names.every((n) => sim.nodes.get(n)!.currentView?.members.length === names.length));
  sim.run(sim.nowMs + 20);
  return sim;
}

function joinAll(sim: SimCluster, clients: SimClient[], group: string): void {
  const reqs = clients.map((c) => c.join(group));
  sim.runUntil(() => clients.every((c, i) => c.replies.get(reqs[i]!)?.ok === true));
}

/** Keep multicasting from every live client for `ms`. */
function traffic(sim: SimCluster, clients: SimClient[], group: string, ms: number, tag: string): void {
  const end = sim.nowMs + ms;
  let i = 0;
  while (sim.nowMs < end) {
    for (const c of clients) if (!c.dead && !c.expelled(group)) c.multicast(group, `${tag}${i}`);
    i++;
    sim.run(sim.nowMs + 2);
  }
}

function expectClean(sim: SimCluster, live?: string[]): void {
  const result = checkHistory(sim.history);
  expect(formatViolations(result.violations), `seed ${sim.random.seed}`).toBe('');
  if (live !== undefined) {
    const v = checkLiveness(sim.history, { live });
    expect(formatViolations(v), `seed ${sim.random.seed}`).toBe('');
  }
}

function settle(sim: SimCluster, names: readonly string[], size: number): void {
  sim.runUntil(() => {
    const views = names.map((n) => sim.nodes.get(n)!.currentView);
    return views.every((v) => v !== undefined && v.members.length === size && v.id === views[0]!.id) &&
      names.every((n) => sim.nodes.get(n)!.state === 'normal');
  }, 30_000);
  sim.run(sim.nowMs + 4 * SUSPECT_MS);
}

const SEEDS = Array.from({ length: 12 }, (_, i) => i + 1);

describe('crashes', () => {
  it.each(SEEDS)('a member crashes under traffic: survivors agree and lose nothing (seed %i)', (seed) => {
    const sim = cluster(seed, ['a', 'b', 'c']);
    const clients = ['a', 'b', 'c'].map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    traffic(sim, clients, 'g', 50, 'x');
    sim.crash('c');
    traffic(sim, clients, 'g', 2 * SUSPECT_MS, 'y');
    settle(sim, ['a', 'b'], 2);
    expectClean(sim, [clients[0]!.id, clients[1]!.id]);
    const last = clients[0]!.views('g').at(-1)!;
    expect(last.members).toEqual([clients[0]!.id, clients[1]!.id]);
  });

  it.each(SEEDS)('the coordinator crashes under traffic: the next oldest takes over (seed %i)', (seed) => {
    const sim = cluster(seed, ['a', 'b', 'c']);
    const clients = ['a', 'b', 'c'].map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    traffic(sim, clients, 'g', 50, 'x');
    sim.crash('a');
    traffic(sim, clients, 'g', 4 * SUSPECT_MS, 'y');
    settle(sim, ['b', 'c'], 2);
    expectClean(sim, [clients[1]!.id, clients[2]!.id]);
  });

  it.each(SEEDS)('a second member crashes during the flush of the first failure: the flush restarts (seed %i)', (seed) => {
    const sim = cluster(seed, ['a', 'b', 'c', 'd', 'e']);
    const names = ['a', 'b', 'c', 'd', 'e'];
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    traffic(sim, clients, 'g', 50, 'x');
    sim.crash('e');
    sim.runUntil(() => sim.traces.some((t) => t.trace.type === 'view-change-start' && t.at > 0 && sim.crashed.has('e')), 10_000);
    sim.crash('d');
    traffic(sim, clients, 'g', 4 * SUSPECT_MS, 'y');
    settle(sim, ['a', 'b', 'c'], 3);
    expectClean(sim, clients.slice(0, 3).map((c) => c.id));
  });
});

describe('partitions', () => {
  it.each(SEEDS)('3|2 partition: the minority stops, is expelled, and rejoins after the heal (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = cluster(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    traffic(sim, clients, 'g', 50, 'x');
    sim.partition(['a', 'b', 'c'], ['d', 'e']);
    traffic(sim, clients, 'g', 6 * SUSPECT_MS, 'y');
    settle(sim, ['a', 'b', 'c'], 3);
    expect(clients[3]!.expelled('g')).toBe(true);
    expect(clients[4]!.expelled('g')).toBe(true);
    sim.healAll();
    settle(sim, names, 5);
    // The minority's daemons came back as new incarnations.
    expect(sim.nodes.get('d')!.self.incarnation).toContain('.');
    expectClean(sim, clients.slice(0, 3).map((c) => c.id));
  });

  it.each(SEEDS)('a one-way link cut settles on a view of members that all reach each other (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = cluster(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.cut('b', 'c', true);
    traffic(sim, clients, 'g', 8 * SUSPECT_MS, 'y');
    const views = sim.traces.filter((t) => t.trace.type === 'daemon-view' && t.daemon === 'a').length;
    expect(views).toBeLessThan(8); // no flapping
    // The member dropped only because another could not reach it left with cause 'partition'.
    const causes = clients[0]!.events.flatMap((e) => e.event.view?.leftCauses ?? []);
    expect(causes).toContain(4); // CAUSE_PARTITION
    expectClean(sim);
  });

  it.each(SEEDS)('a short link break loses nothing: frames are fetched again, no view change (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = cluster(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    const viewBefore = sim.nodes.get('a')!.currentView!.id;
    traffic(sim, clients, 'g', 20, 'x');
    sim.cut('a', 'b');
    traffic(sim, clients, 'g', SUSPECT_MS / 3, 'y');
    sim.heal('a', 'b');
    traffic(sim, clients, 'g', 20, 'z');
    sim.run(sim.nowMs + 3 * SUSPECT_MS);
    expect(sim.nodes.get('a')!.currentView!.id).toBe(viewBefore);
    expectClean(sim, clients.map((c) => c.id));
  });
});

describe('pauses and restarts', () => {
  it.each(SEEDS)('a daemon paused past the suspect timeout is excluded and comes back as a new incarnation (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = cluster(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.freeze('c', 4 * SUSPECT_MS);
    traffic(sim, clients, 'g', 5 * SUSPECT_MS, 'y');
    settle(sim, names, 3);
    expect(sim.nodes.get('c')!.self.incarnation).toContain('.');
    expectClean(sim, clients.slice(0, 2).map((c) => c.id));
  });

  it.each(SEEDS)('a daemon restarted under the same name replaces its old incarnation (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = cluster(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.crash('b');
    sim.run(sim.nowMs + 10);
    sim.restart('b', 'a');
    traffic(sim, [clients[0]!, clients[2]!], 'g', 4 * SUSPECT_MS, 'y');
    settle(sim, names, 3);
    expect(sim.nodes.get('a')!.currentView!.members.filter((m) => m.id.name === 'b').length).toBe(1);
    expectClean(sim, [clients[0]!.id, clients[2]!.id]);
  });
});

describe('bootstrap', () => {
  it.each(SEEDS)('daemons started together with each other as seeds form one primary (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = new SimCluster({ seed, heartbeatMs: HEARTBEAT_MS, suspectMs: SUSPECT_MS });
    for (const n of names) sim.addDaemon(n, names.filter((x) => x !== n), 3);
    settle(sim, names, 3);
    expectClean(sim);
  });

  it.each(SEEDS)('five daemons expecting a majority of three converge to one view of five (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = new SimCluster({ seed, heartbeatMs: HEARTBEAT_MS, suspectMs: SUSPECT_MS, maxDelayMs: 20 });
    // Each knows only some of the others, and they start at different times.
    for (const [i, n] of names.entries()) {
      sim.run(sim.nowMs + sim.random.int(0, 40));
      sim.addDaemon(n, [names[(i + 1) % 5]!, names[(i + 2) % 5]!], 3);
    }
    settle(sim, names, 5);
    expectClean(sim);
  });
});

describe('flow control and slow members', () => {
  it.each(SEEDS.slice(0, 6))('a member that lags stability for too long is excluded; senders were slowed, nothing lost (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = new SimCluster({ seed, heartbeatMs: HEARTBEAT_MS, suspectMs: SUSPECT_MS, maxBufferBytes: 64 * 1024 });
    sim.addDaemon('a');
    sim.addDaemon('b', 'a');
    sim.addDaemon('c', 'a');
    settle(sim, names, 3);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    const slowKey = sim.nodes.get('c')!.selfKey;
    sim.slow('c', SUSPECT_MS / 2); // slow, but never silent for a suspect timeout
    const sent = clients[0]!;
    const reqs: number[] = [];
    const end = sim.nowMs + 20 * SUSPECT_MS;
    let maxUnanswered = 0;
    let maxBuffered = 0;
    while (sim.nowMs < end) {
      for (let k = 0; k < 20; k++) reqs.push(sent.multicast('g', `x${reqs.length}`));
      sim.run(sim.nowMs + 1);
      maxUnanswered = Math.max(maxUnanswered, reqs.length - sent.replies.size);
      maxBuffered = Math.max(maxBuffered, sim.nodes.get('a')!.bufferedBytes);
    }
    // Senders were slowed (multicasts answered only once there was room) and the
    // buffer stayed near its bound; c was excluded by the stability rule, not suspected.
    expect(maxUnanswered).toBeGreaterThan(50);
    expect(maxBuffered).toBeLessThan(2 * 64 * 1024);
    expect(sim.traces.some((t) => t.daemon === 'a' && t.trace.type === 'suspect' && t.trace.member.startsWith('c#'))).toBe(true);
    expect(sim.traces.some((t) => t.daemon === 'b' && t.trace.type === 'suspect' && t.trace.member.startsWith('c#'))).toBe(false);
    expect(clients[0]!.events.flatMap((e) => e.event.view?.leftCauses ?? [])).toContain(5); // CAUSE_EXPELLED
    // The slow run of c is gone from the view (it may be back as a new incarnation).
    const a = sim.nodes.get('a')!;
    expect(a.currentView!.members.map((m) => m.key)).not.toContain(slowKey);
    sim.slow('c', 0);
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    expect(reqs.every((r) => sent.replies.get(r)?.ok === true)).toBe(true);
    expectClean(sim, [clients[0]!.id, clients[1]!.id]);
  });
});

describe('losing the primary for good', () => {
  it.each(SEEDS.slice(0, 6))('after a three-way split every daemon stops; force-primary on one brings the cluster back (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = cluster(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    traffic(sim, clients, 'g', 30, 'x');
    sim.partition(['a'], ['b', 'c']);
    sim.cut('b', 'c');
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    expect(names.every((n) => sim.nodes.get(n)!.state === 'joining')).toBe(true);
    expect(clients.every((c) => c.expelled('g'))).toBe(true);
    sim.healAll();
    sim.run(sim.nowMs + 5 * SUSPECT_MS);
    expect(names.every((n) => sim.nodes.get(n)!.state === 'joining')).toBe(true); // nobody may decide alone
    const forced = sim.nodes.get('a')!;
    sim.input('a', { kind: 'force-primary' }); // answered once the others told a their ids
    sim.runUntil(() => forced.currentView !== undefined, 5 * SUSPECT_MS);
    const forcedView = forced.currentView!.id;
    settle(sim, names, 3);
    // Groups continue their view ids: a new member's first view is above the old ones.
    const c = sim.addClient('b');
    joinAll(sim, [c], 'g');
    expect(c.views('g')[0]!.id).toBeGreaterThan(Math.max(...clients[0]!.views('g').map((v) => v.id)));
    const result = checkHistory(sim.history, { forcedPrimaryViews: [forcedView] });
    expect(formatViolations(result.violations)).toBe('');
  });
});
