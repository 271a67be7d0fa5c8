// Bootstrap: forming the first primary (daemon view 1) among fresh daemons.
//
// With no primary to join yet, fresh daemons that find each other through their seeds
// form view 1 once `expect` of them (this one included) hear each other. The smallest
// of them founds it; each fresh daemon votes for one founder at a time, so two founders
// with overlapping candidate sets cannot both form a view 1.
//
// The component owns the founding state (candidates seen, this daemon's vote, its own
// founding attempt) and reaches the node through a narrow context: its identity, the
// clock, whether it may still found (fresh, no view), and `send` / `trace`. The Install
// of a founding that every candidate agreed to is returned to the node, which installs it.
import type { chorus } from '../wire/gen/chorus.js';
import type { DaemonId, PeerKey, TraceEvent, ViewMember } from './types.js';
import { peerKey } from './types.js';
import { compareAge, keyToId, memberFromProto, memberToProto } from './view-member.js';

export interface BootstrapContext {
  readonly nowMs: number;
  readonly selfId: DaemonId;
  readonly selfKey: PeerKey;
  readonly advertise: string;
  /** Fresh (never was in a view) and still without a view: may take part in founding. */
  readonly mayFound: boolean;
  send(to: PeerKey, frame: chorus.IPeerFrame): void;
  trace(event: TraceEvent): void;
}

export class Bootstrap {
  private readonly peers = new Map<PeerKey, { advertise: string; seenMs: number }>();
  /** The founder this fresh daemon agreed to (one at a time, so two founders cannot both win). */
  private vote: { founder: PeerKey; attempt: number; atMs: number; candidates: PeerKey[]; askedMs: number } | undefined;
  /** Founding attempts this fresh daemon promised never to vote for (founder → up to which attempt). */
  private readonly refusedFounders = new Map<PeerKey, number>();
  /** This daemon's founding attempts so far (each one's ballot counter). */
  private foundingAttempt = 0;
  private founding: { members: ViewMember[]; acks: Set<PeerKey>; startedMs: number } | undefined;

  constructor(
    private readonly ctx: BootstrapContext,
    /** How many fresh daemons form the first primary; undefined: never found, only join. */
    private readonly expect: number | undefined,
    private readonly joinRetryMs: number,
  ) {}

  private get self(): ViewMember {
    return { id: this.ctx.selfId, key: this.ctx.selfKey, advertise: this.ctx.advertise, joinedView: 1 };
  }

  /** Another fresh daemon looking for a primary was heard: a candidate. */
  notePeer(key: PeerKey, advertise: string): void {
    this.peers.set(key, { advertise, seenMs: this.ctx.nowMs });
  }

  /** Whether this daemon voted for `founder` (only its founding view 1 may be installed). */
  votedFor(founder: PeerKey): boolean {
    return this.vote?.founder === founder;
  }

  /** A view was installed: bootstrap is over. */
  reset(): void {
    this.peers.clear();
    this.vote = undefined;
    this.founding = undefined;
  }

  /**
   * Bootstrap: once `expect` fresh daemons (this one included) hear each other, the
   * smallest of them founds view 1 with all of them. Every one of them computes the same
   * founder from the same set, and a set of `expect` is needed, so concurrent start-ups
   * converge to one view (as long as `expect` is more than half of the daemons started).
   * Returns the Install of view 1 (already sent to the others) once everyone agreed.
   */
  maybeFound(): chorus.IInstall | undefined {
    if (!this.ctx.mayFound || this.expect === undefined) return undefined;
    const nowMs = this.ctx.nowMs;
    const selfKey = this.ctx.selfKey;
    const window = 3 * this.joinRetryMs;
    if (this.founding !== undefined) {
      const f = this.founding;
      if (f.acks.size === f.members.length) {
        // Everyone agreed to this founder: install view 1.
        const install: chorus.IInstall = {
          ballot: { counter: this.foundingAttempt, proposer: this.ctx.selfId },
          oldViewId: 0,
          newViewId: 1,
          members: f.members.map(memberToProto),
          lastGlobal: 0,
          groups: { groups: [] },
        };
        for (const m of f.members) if (m.key !== selfKey) this.ctx.send(m.key, { install });
        this.founding = undefined;
        return install;
      }
      if (nowMs - f.startedMs < window) return undefined;
      // Not everyone agreed in time: give up this founding for good (it will never
      // install), release the voters, and look again.
      this.withdrawFounding();
      this.vote = undefined;
    }
    // A vote holds until its founder installs or withdraws, or another of its candidates
    // promises never to vote for it (FoundingRelease): a voter that changed its mind on a
    // timer could ack a second founder while the first one's Install is on its way.
    const vote = this.vote;
    if (vote !== undefined && vote.founder !== selfKey) {
      if (nowMs - vote.atMs >= window && nowMs - vote.askedMs >= this.joinRetryMs) {
        vote.askedMs = nowMs;
        const founder = keyToId(vote.founder);
        for (const k of vote.candidates) if (k !== selfKey && k !== vote.founder) this.ctx.send(k, { foundingRelease: { founder, attempt: vote.attempt } });
      }
      return undefined;
    }
    const candidates: ViewMember[] = [this.self];
    for (const [key, p] of this.peers) {
      if (p.seenMs < nowMs - window) continue;
      candidates.push({ id: keyToId(key) as DaemonId, key, advertise: p.advertise, joinedView: 1 });
    }
    if (candidates.length < this.expect) return undefined;
    candidates.sort(compareAge);
    if (candidates[0]!.key !== selfKey) return undefined;
    // Ask them: each fresh daemon agrees to one founder at a time, so two founders with
    // overlapping candidate sets cannot both form a view 1.
    this.foundingAttempt += 1;
    this.vote = { founder: selfKey, attempt: this.foundingAttempt, atMs: nowMs, candidates: candidates.map((m) => m.key), askedMs: nowMs };
    this.founding = { members: candidates, acks: new Set([selfKey]), startedMs: nowMs };
    const propose: chorus.IPropose = { ballot: { counter: this.foundingAttempt, proposer: this.ctx.selfId }, oldViewId: 0, newViewId: 1, members: candidates.map(memberToProto) };
    for (const m of candidates) if (m.key !== selfKey) this.ctx.send(m.key, { propose });
    this.ctx.trace({ type: 'view-change-start', ballot: 1, proposer: selfKey, members: candidates.map((m) => m.key) });
    return undefined;
  }

  /** A founder that gives up: it never installs this founding, so its voters are free. */
  private withdrawFounding(): void {
    const f = this.founding;
    if (f === undefined) return;
    this.founding = undefined;
    const withdraw: chorus.IPropose = { ballot: { counter: 1, proposer: this.ctx.selfId }, oldViewId: 0, newViewId: 0, members: [] };
    for (const m of f.members) if (m.key !== this.ctx.selfKey) this.ctx.send(m.key, { propose: withdraw });
  }

  /** Bootstrap: a voter asks us to refuse its silent founder (or we asked, and get the promise). */
  onFoundingRelease(from: PeerKey, r: chorus.IFoundingRelease): void {
    if (!this.ctx.mayFound) return;
    const founder = peerKey({ name: r.founder?.name ?? '', incarnation: r.founder?.incarnation ?? '' });
    const attempt = r.attempt ?? 0;
    const vote = this.vote;
    if (r.refused === true) {
      if (vote?.founder === founder && vote.attempt <= attempt && vote.candidates.includes(from)) this.vote = undefined;
      return;
    }
    // We voted for that attempt (it may still found with us), or we are its founder: no promise.
    if (founder === this.ctx.selfKey || (vote?.founder === founder && vote.attempt === attempt)) return;
    this.refusedFounders.set(founder, Math.max(this.refusedFounders.get(founder) ?? 0, attempt));
    this.ctx.send(from, { foundingRelease: { founder: r.founder ?? null, refused: true, attempt } });
  }

  /** A fresh daemon asked to join a founding view 1 (or released by a founder that gave up). */
  onPropose(from: PeerKey, p: chorus.IPropose): void {
    if (!this.ctx.mayFound) return;
    if ((p.newViewId ?? 0) === 0) {
      if (this.vote?.founder === from) this.vote = undefined;
      return;
    }
    const selfId = this.ctx.selfId;
    const named = (p.members ?? []).some((m) => m.id?.name === selfId.name && m.id?.incarnation === selfId.incarnation);
    if (!named) return;
    const vote = this.vote;
    if (vote !== undefined && vote.founder !== from && vote.founder !== this.ctx.selfKey) return;
    if ((p.ballot?.counter ?? 0) <= (this.refusedFounders.get(from) ?? 0)) return;
    if (this.founding !== undefined && from !== this.ctx.selfKey) {
      // Someone else founds with us in it: step back if they are older than us.
      const founder = memberFromProto((p.members ?? []).find((m) => peerKey({ name: m.id?.name ?? '', incarnation: m.id?.incarnation ?? '' }) === from) ?? {});
      if (compareAge(founder, this.self) > 0) return;
      this.withdrawFounding();
    }
    const candidates = (p.members ?? []).map((m) => peerKey({ name: m.id?.name ?? '', incarnation: m.id?.incarnation ?? '' }));
    this.vote = { founder: from, attempt: p.ballot?.counter ?? 0, atMs: this.ctx.nowMs, candidates, askedMs: this.ctx.nowMs };
    this.ctx.send(from, { proposeAck: { ballot: p.ballot ?? null, oldViewId: 0 } });
  }

  /** A vote for a founding (an acknowledgement with old view 0). */
  onAck(from: PeerKey, ack: chorus.IProposeAck): void {
    // Only a vote for this attempt: one for an earlier attempt may have been released since.
    if (this.founding?.members.some((m) => m.key === from) && (ack.ballot?.counter ?? 0) === this.foundingAttempt) this.founding.acks.add(from);
  }
}
