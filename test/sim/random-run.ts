// One randomized simulator run, decided entirely by its seed (VOPR-style): cluster
// size, daemon names (drawn at random, so name order is not age order), traffic, and
// the fault schedule of the nemesis (./nemesis.ts: crashes, crashes at an install,
// during a flush, a partition or a state transfer, pauses, one-way, two-way, multiple
// and short link cuts, partitions, a lost majority followed by force-primary, heals,
// restarts under the same name). Two phases: safety (faults on), then liveness (heal,
// maybe restart the crashed daemons; the cluster must converge to one view with every
// live daemon and deliver every pending message within a bound; if the primary is lost
// for good, the operator forces one first). The checker verifies the history.
import { checkHistory, checkLiveness, formatViolations, type Violation } from '../checker/index.js';
import { chorus } from '../../src/wire/gen/chorus.js';
import { FAULT_KINDS, Nemesis, randomNames, type FaultKind } from './nemesis.js';
import { Random } from './random.js';
import { SimCluster, type SimClient, type SimStateOptions } from './sim-cluster.js';

export { FAULT_KINDS, type FaultKind };

export const SIM_HEARTBEAT_MS = 50;
export const SIM_SUSPECT_MS = 300;

export interface RunResult {
  readonly seed: number;
  readonly daemons: number;
  readonly faults: Record<FaultKind, number>;
  readonly violations: Violation[];
  readonly daemonViews: number;
  readonly flushRestarts: number;
  /** Longest flush seen: view-change-start to the matching install (simulated ms), restarts included. */
  readonly longestFlushMs: number;
  /** Longest single flush attempt (from its start or last restart to the install). */
  readonly longestAttemptMs: number;
  readonly messagesSent: number;
  /** Multicasts sent per order (fifo, causal, total, safe). */
  readonly sentByOrder: Record<OrderName, number>;
  readonly messagesDelivered: number;
  readonly simulatedMs: number;
  /** Set when the run failed: what happened, readable. */
  readonly error?: string;
  readonly trace?: string;
}

export type OrderName = 'fifo' | 'causal' | 'total' | 'safe';
const ORDERS: ReadonlyArray<[OrderName, chorus.Order]> = [
  ['fifo', chorus.Order.ORDER_FIFO],
  ['causal', chorus.Order.ORDER_CAUSAL],
  ['total', chorus.Order.ORDER_TOTAL],
  ['safe', chorus.Order.ORDER_SAFE],
];

export function runSeed(seed: number, options: { safetyMs?: number } = {}): RunResult {
  const rng = new Random(seed * 7919 + 1);
  const n = rng.int(3, 7);
  // Names in a seeded order, started in array order: the oldest need not be the smallest.
  const names = randomNames(rng, n);
  const sim = new SimCluster({ seed, heartbeatMs: SIM_HEARTBEAT_MS, suspectMs: SIM_SUSPECT_MS, maxDelayMs: rng.pick([0.5, 2, 5]) });
  const clients: SimClient[] = [];
  let sent = 0;
  // Orders come from their own generator, so the fault schedule of a seed does not
  // depend on them. A quarter of the runs send only `total`; the rest mix all four.
  const orderRng = new Random(seed * 104_729 + 3);
  const mixed = !orderRng.chance(0.25);
  const sentByOrder: Record<OrderName, number> = { fifo: 0, causal: 0, total: 0, safe: 0 };
  // State transfer: every member offers and asks for state; a provide() sometimes fails
  // and takes a while, so providers also crash mid-transfer (own generator, as above).
  const stateRng = new Random(seed * 7_368_787 + 11);
  const provider: SimStateOptions = {
    install: true,
    provide: true,
    provideFails: () => stateRng.chance(0.1),
    provideDelayMs: () => stateRng.int(0, 40),
  };
  // In some runs some members do not provide (a joiner that asks for state but offers
  // none, a watcher with no state at all): they are never asked, and a joiner waits
  // (for a while) for a member that provides. Own generator, so that the runs without
  // them play as before.
  const mixRng = new Random(seed * 15_485_863 + 17);
  const someDoNotProvide = mixRng.chance(0.3);
  const stateOptions = (): SimStateOptions => {
    if (!someDoNotProvide || mixRng.chance(0.5)) return provider;
    return mixRng.chance(0.5) ? { install: true, provide: false, waitMs: mixRng.int(100, 3 * SIM_SUSPECT_MS) } : { install: false, provide: false };
  };
  // `c.expelled('g')`, reading each client's events once (it scans them all).
  const scanned = new Map<SimClient, number>();
  const gone = new Set<SimClient>();
  const expelled = (c: SimClient): boolean => {
    if (gone.has(c)) return true;
    const from = scanned.get(c) ?? 0;
    let out = c.stateFailed.has('g');
    for (let i = from; i < c.events.length && !out; i++) {
      const signal = c.events[i]!.event.signal;
      out = signal?.kind === chorus.GroupSignal.Kind.EXPELLED && signal.group === 'g';
    }
    scanned.set(c, c.events.length);
    if (out) gone.add(c);
    return out;
  };
  const multicast = (c: SimClient, text: string) => {
    const [name, order] = mixed ? orderRng.pick(ORDERS) : ORDERS[2]!;
    c.multicast('g', text, order);
    sentByOrder[name]++;
    sent++;
  };
  const nemesis = new Nemesis(sim, rng, names, clients, stateOptions, SIM_SUSPECT_MS);
  const faults = nemesis.faults;
  try {
    sim.addDaemon(names[0]!);
    for (const nm of names.slice(1)) sim.addDaemon(nm, names[0]!);
    sim.runUntil(() => names.every((nm) => sim.nodes.get(nm)!.currentView?.members.length === n), 30_000);
    for (const nm of names) clients.push(sim.addClient(nm));
    const joins = clients.map((c) => c.join('g', stateOptions()));
    sim.runUntil(() => clients.every((c, i) => c.replies.get(joins[i]!)?.ok === true), 30_000);

    // ---------------------------------------------------------------- safety phase
    const safetyEnd = sim.nowMs + (options.safetyMs ?? rng.int(2000, 5000));
    let nextFault = sim.nowMs + rng.int(100, 400);
    const rate = rng.pick([0.05, 0.2, 0.5]); // multicasts per client per ms
    let tick = 0;
    while (sim.nowMs < safetyEnd) {
      for (const c of clients) {
        if (c.dead || !rng.chance(rate) || expelled(c)) continue;
        if (!c.ready('g')) continue; // join() has not resolved yet: no group handle to send on
        if (!sim.clients.get(c.id)) continue;
        multicast(c, `${c.id}#${tick}`);
      }
      tick++;
      sim.run(sim.nowMs + 1);
      if (sim.nowMs >= nextFault) {
        nemesis.inject();
        nextFault = sim.nowMs + rng.int(100, 800);
      }
    }

    // ---------------------------------------------------------------- liveness phase
    sim.healAll();
    // Half the runs bring every crashed daemon back too (they must rejoin).
    if (rng.chance(0.5)) {
      for (const nm of names.filter((x) => sim.crashed.has(x))) {
        const live = sim.live();
        sim.restart(nm, live[0]!);
        for (const other of live.slice(1)) sim.introduce(nm, other);
        const c = sim.addClient(nm);
        clients.push(c);
        c.join('g', stateOptions());
      }
    }
    const converged = () => {
      const l = sim.live();
      const views = l.map((nm) => sim.nodes.get(nm)!.currentView);
      return views.every((v) => v !== undefined && v.id === views[0]!.id && v.members.length === l.length) &&
        l.every((nm) => sim.nodes.get(nm)!.state === 'normal');
    };
    // If every live daemon is out of the primary for good, the operator forces one.
    const convergeBy = sim.nowMs + 60_000;
    while (!converged()) {
      if (sim.nowMs > convergeBy) sim.runUntil(converged, 0); // throws: did not converge
      const until = sim.nowMs + SIM_SUSPECT_MS;
      try {
        sim.runUntil(converged, SIM_SUSPECT_MS);
      } catch {
        sim.run(until);
        nemesis.operator();
      }
    }
    // Every live client sends once more, and everything pending must arrive.
    const liveClients = clients.filter((c) => !c.dead && !c.expelled('g') && sim.live().includes(c.daemon));
    for (const c of liveClients) {
      if (!c.ready('g')) continue;
      multicast(c, `${c.id}#final`);
    }
    sim.run(sim.nowMs + 20 * SIM_SUSPECT_MS);

    // Forced views are marked in the history (daemon-view `forced`).
    const result = checkHistory(sim.history);
    const liveness = checkLiveness(sim.history, { live: liveClients.map((c) => c.id) });
    const violations = [...result.violations, ...liveness];
    const summary = summarize(seed, n, sim, faults, violations, sent, sentByOrder);
    return violations.length > 0 ? { ...summary, trace: traceOf(sim) } : summary;
  } catch (err) {
    const states = sim.live().map((nm) => `${nm}:${sim.nodes.get(nm)!.state}:v${sim.nodes.get(nm)!.currentView?.id ?? '-'}[${(sim.nodes.get(nm)!.currentView?.members ?? []).map((m) => m.id.name).join('')}]`);
    const error = `${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\nlive daemons: ${states.join(' ')}`;
    return { ...summarize(seed, n, sim, faults, [], sent, sentByOrder), error, trace: traceOf(sim) };
  }
}

function summarize(seed: number, n: number, sim: SimCluster, faults: Record<FaultKind, number>, violations: Violation[], sent: number, sentByOrder: Record<OrderName, number>): RunResult {
  let views = 0;
  let restarts = 0;
  let longest = 0;
  let longestAttempt = 0;
  // Flushes by proposer (name#incarnation): a crashed proposer's flush never ends, and
  // a restart under the same name is another proposer.
  const open = new Map<string, number>();
  const attempt = new Map<string, number>();
  for (const t of sim.traces) {
    if (t.trace.type === 'daemon-view') {
      views++;
      const self = t.trace.members.find((m) => m.split('#')[0] === t.daemon);
      if (self === undefined) continue;
      const started = open.get(self);
      if (started !== undefined) longest = Math.max(longest, t.at - started);
      const last = attempt.get(self);
      if (last !== undefined) longestAttempt = Math.max(longestAttempt, t.at - last);
      open.delete(self);
      attempt.delete(self);
    } else if (t.trace.type === 'flush-restart') {
      restarts++;
    } else if (t.trace.type === 'view-change-start') {
      if (!open.has(t.trace.proposer)) open.set(t.trace.proposer, t.at);
      attempt.set(t.trace.proposer, t.at);
    }
  }
  const delivered = sim.history.filter((e) => e.type === 'deliver').length;
  return {
    seed,
    daemons: n,
    faults,
    violations,
    daemonViews: views,
    flushRestarts: restarts,
    longestFlushMs: longest,
    longestAttemptMs: longestAttempt,
    messagesSent: sent,
    sentByOrder,
    messagesDelivered: delivered,
    simulatedMs: sim.nowMs,
  };
}

const VIEW_TRACES = new Set(['daemon-view', 'view-change-start', 'view-change-complete', 'flush-restart', 'step-down', 'force-primary', 'left', 'suspect']);

/**
 * The last events of a failed run, readable. CHORUS_SIM_TRACE=views: every view-change
 * event of the run instead (who installed, proposed, stepped down, forced, when).
 */
function traceOf(sim: SimCluster): string {
  const views = process.env.CHORUS_SIM_TRACE === 'views';
  return sim.traces
    .filter((t) => (views ? VIEW_TRACES.has(t.trace.type) : t.trace.type !== 'send'))
    .slice(views ? 0 : -60)
    .map((t) => `${t.at.toFixed(2).padStart(10)} ${t.daemon} ${JSON.stringify(t.trace)}`)
    .join('\n');
}

export function describeFailure(r: RunResult): string {
  const lines = [`seed ${r.seed} failed (${r.daemons} daemons): reproduce with npm run sim -- --seed ${r.seed}`];
  if (r.error !== undefined) lines.push(r.error);
  if (r.violations.length > 0) lines.push(formatViolations(r.violations));
  if (r.trace !== undefined) lines.push('last trace events:', r.trace);
  return lines.join('\n');
}
