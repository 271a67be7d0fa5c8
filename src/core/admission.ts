// Admission: how a daemon outside the primary finds it and gets in.
//
// The joiner's side: it sends join requests to its seeds (and to every member a
// JoinStatus names), says which members it heard from, and after stepping down probes
// the addresses of every daemon it shared a view with, on every retry, because those
// daemons may run under new incarnations by then.
// The coordinator's side: it admits a joiner only once every member hears it and it
// hears every member (the join evidence), so that a daemon behind a broken link is not
// dropped again at once (views would flap).
//
// The component owns the seeds, the probe addresses, the members heard from, the known
// addresses and the join evidence. It reaches the node through a narrow context: its
// identity, the clock, whether it is fresh, `send`, and `address` / `probe` (dial).
import type { chorus } from '../wire/gen/chorus.js';
import type { DaemonId, DaemonView, PeerKey, ViewMember } from './types.js';
import { peerKey } from './types.js';
import { keyToId, memberFromProto, memberToProto } from './view-member.js';

/** Addresses of daemons seen in views that a stepped-down daemon probes to find the primary. */
const MAX_KNOWN_ADDRESSES = 256;
/**
 * Joiners whose evidence the coordinator keeps at once (least recently heard dropped
 * first): a stranger sending join requests under many identities costs a bounded table.
 */
const MAX_JOIN_EVIDENCE = 256;
/** Daemons outside the primary that asked this one to let them join, kept for force-primary's query (most recent). */
const MAX_LOOKING_PEERS = 256;

/** Sets `key` as the most recent entry of `map` (insertion order), dropping the least recent past `max`. */
function setMostRecent<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}

export interface AdmissionContext {
  readonly nowMs: number;
  readonly selfId: DaemonId;
  readonly selfKey: PeerKey;
  readonly advertise: string;
  /** Never was in a view: may take part in forming the first primary. */
  readonly fresh: boolean;
  send(to: PeerKey, frame: chorus.IPeerFrame): void;
  /** Tell the transport where a peer is. */
  address(peer: PeerKey, advertise: string): void;
  /** Dial an address (the daemon behind it may have a new incarnation). */
  probe(address: string): void;
}

/** See Admission.describe. */
export interface AdmissionStatus {
  readonly seeds: PeerKey[];
  readonly heard: PeerKey[];
  readonly probes: string[];
  readonly joiners: Array<{ joiner: PeerKey; heardBy: PeerKey[]; hears: PeerKey[] }>;
}

export class Admission {
  private readonly seeds = new Map<PeerKey, string>();
  private nextJoinAttemptMs = 0;
  /** After stepping down: addresses of the last view's members, probed on every retry. */
  private probeAddresses: string[] = [];
  /** Joiner: members it heard from lately. Coordinator: per joiner, who heard it. */
  private readonly heardFrom = new Map<PeerKey, number>();
  /** Daemon name → address, of every daemon seen in a view (newest last; bounded). */
  private readonly knownAddresses = new Map<string, string>();
  private readonly joinEvidence = new Map<PeerKey, { heardBy: Map<PeerKey, number>; heard: Set<PeerKey> }>();

  constructor(
    private readonly ctx: AdmissionContext,
    private readonly joinRetryMs: number,
  ) {}

  /**
   * Daemons outside the primary that asked this one (outside too) to let them join, lately
   * (bounded, least recent dropped): force-primary asks them for their ids as well.
   */
  private readonly lookingPeers = new Map<PeerKey, string>();

  /** The daemons a joiner knows of (seeds, members it heard from, daemons looking for the primary too). */
  knownPeers(): PeerKey[] {
    return [...new Set([...this.seeds.keys(), ...this.heardFrom.keys(), ...this.lookingPeers.keys()])];
  }

  /**
   * A daemon outside the primary asked to join here. It may know views this one never saw
   * (seed 910004: it was in a view with a daemon that has crashed since, and this one never
   * shared a view with it), so a force-primary run here must ask it too.
   */
  onLookingPeer(key: PeerKey, advertise: string): void {
    setMostRecent(this.lookingPeers, key, advertise, MAX_LOOKING_PEERS);
    this.ctx.address(key, advertise);
  }
  /** The addresses a stepped-down daemon probes. */
  get probes(): readonly string[] {
    return this.probeAddresses;
  }

  /**
   * What admission is waiting for, for /status (read only). Joiner: whom it asks and whom
   * it heard lately. Coordinator: per joiner, which members heard it lately and which
   * members it says it hears (both must cover the view before it is admitted).
   */
  describe(): AdmissionStatus {
    const fresh = this.ctx.nowMs - 3 * this.joinRetryMs;
    const recent = (m: Map<PeerKey, number>) => [...m].filter(([, t]) => t >= fresh).map(([k]) => k);
    return {
      seeds: [...this.seeds.keys()],
      heard: recent(this.heardFrom),
      probes: [...this.probeAddresses],
      joiners: [...this.joinEvidence].map(([joiner, ev]) => ({ joiner, heardBy: recent(ev.heardBy), hears: [...ev.heard] })),
    };
  }

  /** Joiner: repeat the join requests and probes when due; returns when to try next. */
  retry(): number {
    const nowMs = this.ctx.nowMs;
    if (nowMs >= this.nextJoinAttemptMs && (this.seeds.size > 0 || this.probeAddresses.length > 0)) {
      for (const peer of this.seeds.keys()) this.sendJoinRequest(peer);
      // Members may have restarted or stepped down too (new incarnations): look again.
      for (const a of this.probeAddresses) this.ctx.probe(a);
      this.nextJoinAttemptMs = nowMs + this.joinRetryMs;
    }
    return this.nextJoinAttemptMs;
  }

  private rememberAddress(name: string, advertise: string): void {
    if (advertise === '') return;
    setMostRecent(this.knownAddresses, name, advertise, MAX_KNOWN_ADDRESSES);
  }

  /** Joiner: a link came up. */
  onPeerUp(peer: PeerKey, advertise: string): void {
    this.seeds.set(peer, advertise);
    // Remembered for good, like a view member's: after a later step-down this daemon
    // probes it again (it may be the only one that reaches the primary then, e.g. a
    // daemon that forced one while this one's last view was all crashed).
    this.rememberAddress(keyToId(peer).name ?? '', advertise);
    // Dial this address again on every join attempt: the daemon behind it may restart
    // or step down (a new incarnation, a new key) before it admits us.
    if (advertise !== '' && !this.probeAddresses.includes(advertise) && this.probeAddresses.length < MAX_KNOWN_ADDRESSES) this.probeAddresses.push(advertise);
    this.sendJoinRequest(peer);
  }

  private sendJoinRequest(peer: PeerKey): void {
    const fresh = this.ctx.nowMs - 3 * this.joinRetryMs;
    const heard: chorus.IDaemonId[] = [];
    for (const [k, t] of this.heardFrom) if (t >= fresh) heard.push(keyToId(k));
    this.ctx.send(peer, { joinRequest: { who: this.ctx.selfId, advertise: this.ctx.advertise, heard, fresh: this.ctx.fresh } });
  }

  /** Joiner: the coordinator names the members it must hear (and be heard by). */
  onJoinStatus(status: chorus.IJoinStatus): void {
    let learned = false;
    for (const m of (status.members ?? []).map(memberFromProto)) {
      if (m.key === this.ctx.selfKey || this.seeds.has(m.key)) continue;
      this.seeds.set(m.key, m.advertise);
      this.ctx.address(m.key, m.advertise);
      learned = true;
    }
    if (learned) for (const k of this.seeds.keys()) this.sendJoinRequest(k);
  }

  /** Joiner: a member answering our join request: the link from it to us works. */
  onHeartbeat(from: PeerKey): void {
    const first = !this.heardFrom.has(from);
    this.heardFrom.set(from, this.ctx.nowMs);
    if (first) for (const k of this.seeds.keys()) this.sendJoinRequest(k);
  }

  /** No primary here: another fresh daemon looking for one (a bootstrap candidate). */
  onFreshPeer(key: PeerKey, advertise: string): void {
    if (this.seeds.has(key)) return;
    this.seeds.set(key, advertise);
    this.ctx.address(key, advertise);
    this.sendJoinRequest(key);
  }

  /**
   * Coordinator: a join request from `key` (`direct`: from the joiner itself, else
   * forwarded by member `from`). True once the joiner may be admitted.
   */
  onJoinRequest(view: DaemonView, key: PeerKey, from: PeerKey, direct: boolean, req: chorus.IJoinRequest): boolean {
    const nowMs = this.ctx.nowMs;
    // Admit a joiner only once every member hears it and it hears every member: a
    // daemon behind a broken link would be dropped again at once (views would flap).
    // The map stays in order of last request: the least recently heard joiner goes first.
    const ev = this.joinEvidence.get(key) ?? { heardBy: new Map<PeerKey, number>(), heard: new Set<PeerKey>() };
    setMostRecent(this.joinEvidence, key, ev, MAX_JOIN_EVIDENCE);
    ev.heardBy.set(direct ? this.ctx.selfKey : from, nowMs);
    if (direct) {
      // Only the members of the view count (at most the view's size is kept, whatever the request lists).
      const members = new Set(view.members.map((m) => m.key));
      ev.heard = new Set();
      for (const id of req.heard ?? []) {
        const k = peerKey({ name: id.name ?? '', incarnation: id.incarnation ?? '' });
        if (members.has(k)) ev.heard.add(k);
      }
    }
    const fresh = nowMs - 3 * this.joinRetryMs;
    const heardBy = ev.heardBy;
    const heard = ev.heard;
    const connected = view.members.every((m) => (heardBy.get(m.key) ?? -Infinity) >= fresh && heard.has(m.key));
    if (!connected) {
      this.ctx.address(key, req.advertise ?? '');
      this.ctx.send(key, { joinStatus: { viewId: view.id, members: view.members.map(memberToProto) } });
      return false;
    }
    this.joinEvidence.delete(key);
    return true;
  }

  /** A view was installed: the joiner is in; remember its members' addresses. */
  installed(view: DaemonView): void {
    this.seeds.clear();
    this.lookingPeers.clear();
    this.probeAddresses = [];
    this.heardFrom.clear();
    for (const m of view.members) this.rememberAddress(m.id.name, m.advertise);
  }

  /** Stepped down from a view with `members`: look for the primary among them and every daemon seen. */
  steppedDown(members: readonly ViewMember[]): void {
    const name = this.ctx.selfId.name;
    this.probeAddresses = [];
    for (const m of members) {
      if (m.id.name === name) continue;
      this.seeds.set(m.key, m.advertise);
      if (m.advertise !== '') this.probeAddresses.push(m.advertise);
    }
    // Also every other daemon this one ever shared a view with: the primary may have moved
    // on among daemons of an earlier view (the last view's members may all be gone or
    // stepped down themselves, each knowing only the others).
    for (const [n, advertise] of this.knownAddresses) {
      if (n !== name && advertise !== '' && !this.probeAddresses.includes(advertise)) this.probeAddresses.push(advertise);
    }
    this.nextJoinAttemptMs = this.ctx.nowMs;
  }
}
