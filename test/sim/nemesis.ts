// The nemesis of the randomized simulator runs: a fault schedule drawn from the seed,
// one named fault kind at a time, each counted. Besides the single faults (a crash, a
// pause, a cut, a partition, a heal, a restart, client churn) it plays the hard cases
// of the view-change review (../shared/repro/README.md):
//
// - crash-at-install: a view change is started (a crash or a restart), and the first
//   daemon that installs the new view crashes in that step, before its Install frames
//   land (sometimes a few of them get through);
// - crash-in-partition: a crash while a partition or a cut is in place;
// - lost-majority: a majority of the primary view crashes or is split into pieces that
//   are all minorities; once every live daemon is out of the primary, one of them (not
//   necessarily the oldest) is asked to `force-primary`, through the same input the
//   daemon's operator command uses; the rest rejoin after the heal;
// - multi-cut: several one- and two-way link cuts at once;
// - short-cut: a cut healed before the suspect timeout, sometimes during a view change;
// - crash-mid-transfer: a member joins with state and the provider's (or the joiner's)
//   daemon crashes once the checkpoint went out;
// - crash-during-flush: a second crash once the flush of a first one started.
//
// Faults may pile up (crashes during cuts, pauses during partitions); the only limit
// kept is that the last live daemon that was ever in a primary is not crashed, so an
// operator can always `force-primary` and the liveness phase can be checked. Whenever
// every live daemon has been out of the primary for a while, the nemesis plays that
// operator (counted as `force-primary`).
import { Random } from './random.js';
import type { SimClient, SimCluster, SimStateOptions } from './sim-cluster.js';

export type FaultKind =
  | 'crash'
  | 'crash-coordinator'
  | 'crash-during-flush'
  | 'crash-at-install'
  | 'crash-in-partition'
  | 'crash-mid-transfer'
  | 'lost-majority'
  | 'force-primary'
  | 'freeze'
  | 'cut-one-way'
  | 'cut-both'
  | 'multi-cut'
  | 'short-cut'
  | 'partition'
  | 'heal'
  | 'restart'
  | 'client-churn';

/** Every kind a run of seeds must have played at least once. */
export const FAULT_KINDS: readonly FaultKind[] = [
  'crash',
  'crash-coordinator',
  'crash-during-flush',
  'crash-at-install',
  'crash-in-partition',
  'crash-mid-transfer',
  'lost-majority',
  'force-primary',
  'freeze',
  'cut-one-way',
  'cut-both',
  'multi-cut',
  'short-cut',
  'partition',
  'heal',
  'restart',
  'client-churn',
];

/** The draw (force-primary is not drawn: it follows a lost primary). Repeats weigh more. */
const DRAW: readonly FaultKind[] = [
  'crash',
  'crash-coordinator',
  'crash-during-flush',
  'crash-at-install',
  'crash-at-install',
  'crash-in-partition',
  'crash-mid-transfer',
  'crash-mid-transfer',
  'lost-majority',
  'freeze',
  'cut-one-way',
  'cut-both',
  'multi-cut',
  'short-cut',
  'short-cut',
  'partition',
  'heal',
  'heal',
  'restart',
  'restart',
  'restart',
  'client-churn',
];

/** A primary lost for this long (all live daemons out of it) brings the operator. */
const OPERATOR_AFTER_SUSPECTS = 4;

/** `a..z` in a seeded order: daemon names whose order is not their age order. */
export function randomNames(rng: Random, n: number): string[] {
  const pool = Array.from({ length: 26 }, (_, i) => String.fromCharCode(97 + i));
  for (let i = pool.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

/** Dynamic-voting quorum: more than half of `view`, or exactly half with its oldest member. */
export function isQuorum(view: readonly string[], part: readonly string[]): boolean {
  const common = view.filter((m) => part.includes(m)).length;
  return 2 * common > view.length || (2 * common === view.length && view.length > 0 && part.includes(view[0]!));
}

export class Nemesis {
  readonly faults = Object.fromEntries(FAULT_KINDS.map((f) => [f, 0])) as Record<FaultKind, number>;
  /** force-primary inputs that were accepted: the daemon and where the trace stood. */
  private readonly forced: Array<{ daemon: string; traceIndex: number }> = [];
  private noPrimarySince: number | undefined;

  constructor(
    private readonly sim: SimCluster,
    private readonly rng: Random,
    private readonly names: readonly string[],
    private readonly clients: SimClient[],
    /** The state-transfer options of the next member that joins. */
    private readonly stateOptions: () => SimStateOptions,
    private readonly suspectMs: number,
  ) {}

  /** One step of the schedule: the operator if the primary is lost, then one random fault. */
  inject(): void {
    this.operator();
    const kind = this.rng.pick(DRAW);
    if (this.play(kind)) this.faults[kind]++;
  }

  /**
   * The operator: once every live daemon has been out of the primary for a while,
   * `force-primary` on one of them (picked at random). True when it forced.
   */
  operator(): boolean {
    if (!this.noPrimary()) {
      this.noPrimarySince = undefined;
      return false;
    }
    this.noPrimarySince ??= this.sim.nowMs;
    if (this.sim.nowMs - this.noPrimarySince < OPERATOR_AFTER_SUSPECTS * this.suspectMs) return false;
    return this.forcePrimary();
  }

  /** Daemon view ids founded by force-primary (for the checker: no quorum rule there). */
  forcedViews(): number[] {
    const out: number[] = [];
    for (const f of this.forced) {
      const t = this.sim.traces.slice(f.traceIndex).find((x) => x.daemon === f.daemon && x.trace.type === 'daemon-view');
      if (t !== undefined && t.trace.type === 'daemon-view') out.push(t.trace.viewId);
    }
    return out;
  }

  /** No live daemon has a daemon view (every one is out of the primary, or fresh). */
  noPrimary(): boolean {
    const live = this.sim.live();
    return live.length > 0 && live.every((nm) => this.sim.nodes.get(nm)!.currentView === undefined);
  }

  // ------------------------------------------------------------------ the kinds

  private play(kind: FaultKind): boolean {
    const sim = this.sim;
    const rng = this.rng;
    const live = sim.live();
    switch (kind) {
      case 'crash':
        return this.crash(rng.pick(live));
      case 'crash-coordinator': {
        const coordinator = live.find((nm) => sim.nodes.get(nm)!.isCoordinator && sim.nodes.get(nm)!.state !== 'joining');
        return coordinator !== undefined && this.crash(coordinator);
      }
      case 'crash-during-flush': {
        if (!this.crash(rng.pick(live))) return false;
        const start = sim.traces.length;
        // Wait for the flush of that failure to start, then fail another member in it.
        if (!this.runUntil(() => this.tracesSince(start).some((t) => t.trace.type === 'view-change-start'), 5 * this.suspectMs)) return false;
        return this.crash(rng.pick(sim.live()));
      }
      case 'crash-at-install': {
        // Start a view change (a crash, or a daemon coming back), then crash the first
        // daemon that installs the next view before its frames of that step go out.
        const dead = this.dead();
        const keep = rng.pick([0, 0, 0.3, 0.7]);
        const trap = sim.crashAtInstall({ match: (d) => this.mayCrash(d), keepFrame: () => keep > 0 && rng.chance(keep) });
        const started = dead.length > 0 && rng.chance(0.4) ? this.restart(rng.pick(dead)) : this.crash(rng.pick(live));
        if (!started || !this.runUntil(() => trap.fired !== undefined, 10 * this.suspectMs)) {
          trap.cancel();
          return false;
        }
        return true;
      }
      case 'crash-in-partition': {
        if (!sim.hasCuts() || rng.chance(0.3)) {
          if (rng.chance(0.5)) this.partitionRandom(live);
          else this.cutRandom(live, rng.chance(0.5));
          // Sometimes let the view change of the cut start (or end) first.
          if (rng.chance(0.6)) sim.run(sim.nowMs + rng.int(0, 3 * this.suspectMs));
        }
        return this.crash(rng.pick(sim.live()));
      }
      case 'crash-mid-transfer':
        return this.crashMidTransfer();
      case 'lost-majority':
        return this.loseMajority();
      case 'force-primary':
        return false; // not drawn
      case 'freeze': {
        sim.freeze(rng.pick(live), rng.pick([this.suspectMs / 3, 2 * this.suspectMs, 4 * this.suspectMs]));
        return true;
      }
      case 'cut-one-way':
      case 'cut-both':
        return this.cutRandom(live, kind === 'cut-one-way');
      case 'multi-cut': {
        const k = rng.int(2, 4);
        let made = 0;
        for (let i = 0; i < k; i++) if (this.cutRandom(live, rng.chance(0.5))) made++;
        return made >= 2;
      }
      case 'short-cut': {
        if (live.length < 2) return false;
        const a = rng.pick(live);
        const b = rng.pick(live.filter((x) => x !== a));
        sim.shortCut(a, b, rng.int(5, Math.floor(0.8 * this.suspectMs)), rng.chance(0.5));
        // Half the time during a view change: the cut may swallow an Install.
        if (rng.chance(0.5)) {
          const dead = this.dead();
          const others = live.filter((x) => x !== a && x !== b);
          if (dead.length > 0 && rng.chance(0.5)) this.restart(rng.pick(dead));
          else if (others.length > 0) this.crash(rng.pick(others));
        }
        return true;
      }
      case 'partition':
        return this.partitionRandom(live);
      case 'heal': {
        if (!sim.hasCuts()) return false;
        sim.healAll();
        return true;
      }
      case 'restart': {
        const dead = this.dead();
        return dead.length > 0 && this.restart(rng.pick(dead));
      }
      case 'client-churn': {
        const alive = this.clients.filter((c) => !c.dead && live.includes(c.daemon));
        if (alive.length === 0) return false;
        const victim = rng.pick(alive);
        victim.disconnect();
        this.addMember(victim.daemon);
        return true;
      }
    }
  }

  /** A majority of the primary view crashes or is split into minorities; then force-primary. */
  private loseMajority(): boolean {
    const sim = this.sim;
    const rng = this.rng;
    const view = this.primaryView();
    if (view === undefined) return false;
    const live = sim.live();
    // Try a few random plans; keep the first after which no connected piece holds a quorum.
    for (let attempt = 0; attempt < 8; attempt++) {
      const variant = rng.pick(['crash', 'split', 'mixed'] as const);
      const order = this.shuffle(live);
      const crashCount = variant === 'split' ? 0 : rng.int(1, Math.max(1, live.length - 1));
      const victims = order.slice(0, crashCount);
      const rest = order.slice(crashCount);
      if (rest.length === 0 || !rest.some((nm) => sim.hasInstalled(nm))) continue;
      const pieces: string[][] = [];
      if (variant === 'crash') pieces.push(rest);
      else {
        let i = 0;
        while (i < rest.length) {
          const size = rng.int(1, Math.max(1, Math.ceil(rest.length / 2)));
          pieces.push(rest.slice(i, i + size));
          i += size;
        }
      }
      if (pieces.some((p) => isQuorum(view, p))) continue;
      for (const v of victims) sim.crash(v);
      for (let i = 0; i < pieces.length; i++) for (let j = i + 1; j < pieces.length; j++) sim.partition(pieces[i]!, pieces[j]!);
      // Every live daemon must step down before the operator may force a primary.
      if (!this.runUntil(() => this.noPrimary(), 30 * this.suspectMs)) return false;
      sim.run(sim.nowMs + rng.int(0, 2 * this.suspectMs));
      return this.forcePrimary();
    }
    return false;
  }

  private crashMidTransfer(): boolean {
    const sim = this.sim;
    const rng = this.rng;
    const live = sim.live().filter((nm) => sim.nodes.get(nm)!.currentView !== undefined);
    if (live.length === 0) return false;
    const joiner = this.addMember(rng.pick(live));
    const marks = new Map(this.clients.map((c) => [c, c.events.length] as const));
    let provider: SimClient | undefined;
    const sawCheckpoint = () => {
      for (const [c, from] of marks) {
        if (c.dead) continue;
        for (let i = from; i < c.events.length; i++) {
          if (c.events[i]!.event.checkpoint?.joiner === joiner.id) {
            provider = c;
            return true;
          }
        }
        marks.set(c, c.events.length);
      }
      return false;
    };
    if (!this.runUntil(sawCheckpoint, 10 * this.suspectMs)) return false;
    // The chunk may be on its way already (provide() takes a while).
    if (rng.chance(0.5)) sim.run(sim.nowMs + rng.int(0, 20));
    const victim = rng.chance(0.7) || provider!.daemon === joiner.daemon ? provider!.daemon : joiner.daemon;
    return this.crash(victim);
  }

  // ------------------------------------------------------------------ helpers

  /** Crash `name` unless it is the last live daemon that was ever in a primary. */
  private crash(name: string | undefined): boolean {
    if (name === undefined || !this.mayCrash(name)) return false;
    this.sim.crash(name);
    return true;
  }

  private mayCrash(name: string): boolean {
    const sim = this.sim;
    if (!sim.live().includes(name)) return false;
    return !sim.hasInstalled(name) || sim.live().some((x) => x !== name && sim.hasInstalled(x));
  }

  /** Restart a crashed daemon under its name: it joins through its peers, with a member. */
  private restart(name: string): boolean {
    const live = this.sim.live();
    if (live.length === 0) return false;
    const order = this.shuffle(live);
    this.sim.restart(name, order[0]!); // like --seeds with every other daemon's address
    for (const other of order.slice(1)) this.sim.introduce(name, other);
    this.addMember(name);
    return true;
  }

  private addMember(daemon: string): SimClient {
    const c = this.sim.addClient(daemon);
    this.clients.push(c);
    c.join('g', this.stateOptions());
    return c;
  }

  /** Force a primary on a random live daemon that can (one that was in a primary). */
  forcePrimary(): boolean {
    const sim = this.sim;
    // The operator repairs the network first: forcing while live daemons are out of reach
    // is the documented misuse (the forcing daemon cannot learn their ids, and they may be
    // primary). Crashed daemons stay crashed.
    if (sim.hasCuts()) {
      sim.healAll();
      sim.run(sim.nowMs + this.suspectMs);
      if (!this.noPrimary()) return false;
    }
    for (const nm of this.shuffle(sim.live().filter((x) => sim.hasInstalled(x)))) {
      const start = sim.traces.length;
      sim.input(nm, { kind: 'force-primary' });
      // The answer comes once the daemon heard the others' ids (at most a suspect timeout):
      // one operator, one daemon at a time (forcing two at once is the misuse that makes two primaries).
      const answered = () => this.tracesSince(start).some((t) => t.daemon === nm && t.trace.type === 'force-primary');
      this.runUntil(answered, 3 * this.suspectMs);
      const answer = this.tracesSince(start).find((t) => t.daemon === nm && t.trace.type === 'force-primary');
      if (answer !== undefined && answer.trace.type === 'force-primary' && answer.trace.ok) {
        this.forced.push({ daemon: nm, traceIndex: start });
        this.faults['force-primary']++;
        this.noPrimarySince = undefined;
        return true;
      }
    }
    return false;
  }

  private cutRandom(live: readonly string[], oneWay: boolean): boolean {
    if (live.length < 2) return false;
    const a = this.rng.pick(live);
    const b = this.rng.pick(live.filter((x) => x !== a));
    this.sim.cut(a, b, oneWay);
    return true;
  }

  private partitionRandom(live: readonly string[]): boolean {
    if (live.length < 2) return false;
    const order = this.shuffle(live);
    const k = this.rng.int(1, live.length - 1);
    this.sim.partition(order.slice(0, k), order.slice(k));
    return true;
  }

  /** Members (names) of the newest daemon view a live daemon is in. */
  private primaryView(): string[] | undefined {
    let best: { id: number; members: readonly { id: { name: string } }[] } | undefined;
    for (const nm of this.sim.live()) {
      const v = this.sim.nodes.get(nm)!.currentView;
      if (v !== undefined && (best === undefined || v.id > best.id)) best = v;
    }
    return best?.members.map((m) => m.id.name);
  }

  private dead(): string[] {
    return this.names.filter((nm) => this.sim.crashed.has(nm));
  }

  private shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.rng.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  private tracesSince(start: number): SimCluster['traces'] {
    return this.sim.traces.slice(start);
  }

  /** Run until `done()`; false (and no throw) when it did not happen within `ms`. */
  private runUntil(done: () => boolean, ms: number): boolean {
    try {
      this.sim.runUntil(done, ms);
      return true;
    } catch {
      return false;
    }
  }
}
