// Force-primary: the operator's way back after the majority was lost for good.
//
// The daemon asks every daemon it can reach for the highest daemon view id and the group
// view ids and seqs they saw (ForceQuery / ForceInfo), waits for the answers (at most a
// suspect timeout), and founds a one-member primary above all of them, so ids never
// repeat. It refuses when a daemon it reaches is in a primary view (joining that one is
// the way back), or when a smaller daemon is forcing too.
//
// The component owns the forcing state and reaches the node through a narrow context
// (its identity, the clock, what it knows of views and groups, `send` / `trace` /
// `probe`). The forced Install is returned to the node, which installs it.
import type { chorus } from '../wire/gen/chorus.js';
import type { DaemonId, PeerKey, TraceEvent } from './types.js';
import { memberToProto } from './view-member.js';

export interface ForcePrimaryContext {
  readonly nowMs: number;
  readonly selfId: DaemonId;
  readonly selfKey: PeerKey;
  readonly advertise: string;
  /** The primary view this daemon is in, if any. */
  readonly primaryViewId: number | undefined;
  /** Never was in a view. */
  readonly fresh: boolean;
  /** The highest ballot counter this daemon saw. */
  readonly highestCounter: number;
  /** The highest daemon view id this daemon has seen (installed, accepted, acknowledged, or before stepping down). */
  maxViewIdSeen(): number;
  /** The groups as this daemon knows them: the table in a primary, else what it knew when it stepped down. */
  groupsNow(): chorus.IGroupTable;
  /** What this daemon knew of the groups when it stepped down. */
  readonly lastGroups: chorus.IGroupTable | undefined;
  send(to: PeerKey, frame: chorus.IPeerFrame): void;
  trace(event: TraceEvent): void;
  /** Dial an address again. */
  probe(address: string): void;
}

export class ForcePrimary {
  /** The ids collected from the daemons this one reaches, until it founds. */
  private forcing: { startedMs: number; asked: Set<PeerKey>; infos: Map<PeerKey, chorus.IForceInfo>; yieldTo: PeerKey | undefined } | undefined;

  constructor(
    private readonly ctx: ForcePrimaryContext,
    private readonly suspectMs: number,
  ) {}

  private answer(ok: boolean, message: string): void {
    this.ctx.trace({ type: 'force-primary', ok, message });
  }

  /** When the wait for answers ends (infinity when not forcing). */
  wakeAtMs(): number {
    return this.forcing === undefined ? Number.POSITIVE_INFINITY : this.forcing.startedMs + this.suspectMs;
  }

  /**
   * Operator: make this daemon's side the primary component after the majority was lost
   * for good. Ids never repeat: it first asks every daemon it can reach for the highest
   * daemon view id and the group view ids and seqs they saw (ForceQuery), waits for the
   * answers (at most a suspect timeout), and founds above all of them. It refuses when a
   * daemon it reaches is in a primary view: joining that one is the way back.
   * `known`: the daemons it knows of; `probes`: addresses of the last view's members.
   * Returns the forced Install when it can found at once.
   */
  start(known: Iterable<PeerKey>, probes: readonly string[]): chorus.IInstall | undefined {
    const viewId = this.ctx.primaryViewId;
    if (viewId !== undefined) {
      this.answer(false, `already in primary view ${viewId}: nothing to force`);
      return undefined;
    }
    if (this.ctx.fresh) {
      this.answer(false, 'this daemon was never in a primary: start one without seeds instead');
      return undefined;
    }
    if (this.forcing !== undefined) return undefined; // already asking: one answer comes for both
    const asked = new Set<PeerKey>(known);
    asked.delete(this.ctx.selfKey);
    this.forcing = { startedMs: this.ctx.nowMs, asked, infos: new Map(), yieldTo: undefined };
    for (const k of asked) this.ctx.send(k, { forceQuery: { who: this.ctx.selfId } });
    // The daemons we knew may run under new incarnations by now (they stepped down or
    // restarted): dial their addresses again; each that answers the dial is asked too
    // (onPeerUp), within the same wait.
    for (const a of probes) this.ctx.probe(a);
    return this.progress().install;
  }

  /** A link came up while forcing: ask that daemon too. */
  onPeerUp(peer: PeerKey): void {
    if (this.forcing !== undefined && peer !== this.ctx.selfKey && !this.forcing.asked.has(peer)) {
      this.forcing.asked.add(peer);
      this.ctx.send(peer, { forceQuery: { who: this.ctx.selfId } });
    }
  }

  onForceQuery(from: PeerKey): void {
    const viewId = this.ctx.primaryViewId;
    // Two operators forcing at once: a query comes only from a forcing daemon, so a
    // smaller one that asks us wins. (It sees us forcing, or not yet: either way it goes
    // on and we refuse; when we ask it, it answers forcing and we refuse too.)
    if (this.forcing !== undefined && from < this.ctx.selfKey) this.forcing.yieldTo ??= from;
    this.ctx.send(from, {
      forceInfo: {
        maxViewId: this.ctx.maxViewIdSeen(),
        groups: this.ctx.groupsNow(),
        primaryViewId: viewId ?? 0,
        forcing: this.forcing !== undefined,
      },
    });
  }

  onForceInfo(from: PeerKey, info: chorus.IForceInfo): void {
    if (this.forcing === undefined || !this.forcing.asked.has(from)) return;
    this.forcing.infos.set(from, info);
  }

  /**
   * Found the forced view once every daemon asked answered, or a suspect timeout passed.
   * `moved`: something changed; `install`: the forced view to install.
   */
  progress(): { moved: boolean; install?: chorus.IInstall } {
    const f = this.forcing;
    if (f === undefined) return { moved: false };
    const viewId = this.ctx.primaryViewId;
    if (viewId !== undefined) {
      // Joined a primary meanwhile (a member answered our join): nothing to force.
      this.forcing = undefined;
      this.answer(false, `joined primary view ${viewId} meanwhile: nothing to force`);
      return { moved: true };
    }
    if (f.infos.size < f.asked.size && this.ctx.nowMs - f.startedMs < this.suspectMs) return { moved: false };
    this.forcing = undefined;
    const selfKey = this.ctx.selfKey;
    for (const [k, info] of f.infos) {
      if ((info.primaryViewId ?? 0) > 0) {
        this.answer(false, `daemon ${k} is in primary view ${info.primaryViewId ?? 0}: this daemon rejoins it instead`);
        return { moved: true };
      }
      if (info.forcing === true && k < selfKey) f.yieldTo ??= k;
    }
    if (f.yieldTo !== undefined) {
      this.answer(false, `daemon ${f.yieldTo} is forcing a primary too (an operator ran force-primary there): this daemon rejoins it instead`);
      return { moved: true };
    }
    let maxId = this.ctx.maxViewIdSeen();
    // Every group is emptied (its members rejoin): the forced table holds no group, only
    // the highest group view id and seq anyone knew, above which every group continues,
    // so group view ids and seqs never repeat.
    let prunedViewId = 0;
    let prunedTotalSeq = 0;
    const merge = (table: chorus.IGroupTable | null | undefined) => {
      prunedViewId = Math.max(prunedViewId, table?.prunedViewId ?? 0);
      prunedTotalSeq = Math.max(prunedTotalSeq, table?.prunedTotalSeq ?? 0);
      for (const g of table?.groups ?? []) {
        prunedViewId = Math.max(prunedViewId, g.viewId ?? 0);
        prunedTotalSeq = Math.max(prunedTotalSeq, g.totalSeq ?? 0);
      }
    };
    merge(this.ctx.lastGroups);
    for (const info of f.infos.values()) {
      maxId = Math.max(maxId, info.maxViewId ?? 0);
      merge(info.groups);
    }
    const id = maxId + 1;
    const install: chorus.IInstall = {
      ballot: { counter: this.ctx.highestCounter + 1, proposer: this.ctx.selfId },
      oldViewId: 0,
      newViewId: id,
      members: [memberToProto({ id: this.ctx.selfId, key: selfKey, advertise: this.ctx.advertise, joinedView: id })],
      lastGlobal: 0,
      groups: { groups: [], prunedViewId, prunedTotalSeq },
    };
    // Tell every daemon that answered where the primary is now: a stepped-down daemon looks
    // for it only among the daemons it shared a view with, which may all be gone.
    const here: chorus.IPeerFrame = { joinStatus: { viewId: id, members: install.members } };
    for (const k of f.infos.keys()) this.ctx.send(k, here);
    this.ctx.trace({ type: 'view-change-start', ballot: install.ballot!.counter!, proposer: selfKey, members: [selfKey] });
    this.answer(true, `forced primary view ${id} with this daemon (ids above those of ${f.infos.size} of ${f.asked.size} daemons asked); the others rejoin it`);
    return { moved: true, install };
  }
}
