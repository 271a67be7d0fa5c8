// Inputs and outputs of the pure protocol core. The daemon (real IO) and the simulator
// (fake IO) both drive a DaemonNode through `step(input) → CoreOutput`; nothing in
// src/core touches sockets, timers, clocks or randomness.
import type { chorus } from '../wire/gen/chorus.js';
import type { RejectReason } from './frame-guard.js';

export type PeerFrame = chorus.IPeerFrame;
export type DaemonEvent = chorus.IDaemonEvent;
export type ClientRequest = chorus.IClientRequest;

/** A daemon's identity: unique name plus the incarnation picked at start. */
export interface DaemonId {
  readonly name: string;
  readonly incarnation: string;
}

/** `name#incarnation`: the key of one run of one daemon. */
export type PeerKey = string;

export function peerKey(id: DaemonId): PeerKey {
  return `${id.name}#${id.incarnation}`;
}

/** A member of a daemon view. */
export interface ViewMember {
  readonly id: DaemonId;
  readonly key: PeerKey;
  readonly advertise: string;
  /** Id of the daemon view this member joined in: "oldest" = smallest, then name, then incarnation. */
  readonly joinedView: number;
}

export interface DaemonView {
  readonly id: number;
  /** Oldest first; index = the member's sender index in this view. */
  readonly members: readonly ViewMember[];
}

export type CoreInput =
  /** Time passes. The only clock the core sees. */
  | { readonly kind: 'tick'; readonly nowMs: number }
  /** A frame from a peer (after the link's handshake). */
  | { readonly kind: 'peer-frame'; readonly from: PeerKey; readonly frame: chorus.IPeerFrame }
  /** An outbound link to a peer completed its handshake (seeds are learned this way). */
  | { readonly kind: 'peer-up'; readonly peer: PeerKey; readonly id: DaemonId; readonly advertise: string }
  | { readonly kind: 'peer-down'; readonly peer: PeerKey }
  /** `protocol`: the client protocol version agreed in its hello (see src/wire/codec.ts). */
  | { readonly kind: 'client-connect'; readonly client: string; readonly name: string; readonly protocol: number }
  | { readonly kind: 'client-request'; readonly client: string; readonly request: chorus.IClientRequest }
  /**
   * The client is gone: its connection closed (others see cause 'crash'), or the daemon
   * expelled it (`expelled`, e.g. a slow consumer: others see cause 'expelled').
   */
  | { readonly kind: 'client-disconnect'; readonly client: string; readonly expelled?: boolean }
  /** Leave the daemon view on purpose (SIGTERM). */
  | { readonly kind: 'leave' }
  /**
   * Operator override (`chorus force-primary`) after the primary was lost for good: this
   * daemon, outside any primary, founds a new primary view; the others rejoin it.
   */
  | { readonly kind: 'force-primary' };

/** Trace events: what the checker and the logs see. */
export type TraceEvent =
  /** `forced`: the view an operator declared with force-primary (exempt from the quorum rule). */
  /** `left`: the members of the previous view that are not in this one, with why (as the proposer saw it). */
  | {
      readonly type: 'daemon-view';
      readonly viewId: number;
      readonly members: readonly string[];
      readonly forced?: boolean;
      readonly left?: ReadonlyArray<{ readonly key: PeerKey; readonly cause: 'leave' | 'crash' | 'partition' | 'expelled' }>;
    }
  | {
      readonly type: 'group-view';
      readonly group: string;
      readonly viewId: number;
      readonly members: readonly string[];
      readonly joined: readonly string[];
      readonly left: readonly string[];
      /** Why each of `left` left, in the same order. */
      readonly leftCauses?: ReadonlyArray<'leave' | 'crash' | 'partition' | 'expelled'>;
    }
  | { readonly type: 'view-change-start'; readonly ballot: number; readonly proposer: string; readonly members: readonly string[] }
  /** This daemon promised its first ballot in the current view: it stops sending and flushes (observability only). */
  | { readonly type: 'flush-start'; readonly ballot: number; readonly proposer: string }
  /** Left on purpose; `viewId`: the daemon view whose change took it out (it took part in it). */
  | { readonly type: 'left'; readonly viewId?: number }
  /** A local client's message entered the sending stream, stamped with its sending view. */
  | {
      readonly type: 'send';
      readonly client: string;
      readonly group: string;
      readonly id: string;
      readonly viewId: number;
      readonly order: number;
    }
  /** `silentMs`: how long the member had been silent here when suspected for silence. */
  | { readonly type: 'suspect'; readonly member: string; readonly silentMs?: number }
  /** A state transfer made no progress for long: its provider is reported as failed. */
  | { readonly type: 'state-stalled'; readonly group: string; readonly joiner: string; readonly provider: string; readonly transfer: number }
  | { readonly type: 'flush-restart'; readonly ballot: number }
  /** A proposer completes a decision an earlier ballot got accepted (Paxos' rule) instead of deciding anew. */
  | { readonly type: 'view-change-complete'; readonly ballot: number; readonly viewId: number }
  | { readonly type: 'step-down'; readonly reason: string }
  | { readonly type: 'force-primary'; readonly ok: boolean; readonly message: string }
  /** A peer frame dropped at the boundary (src/core/frame-guard.ts), or an ordered entry the group table refused. */
  | { readonly type: 'frame-rejected'; readonly from: PeerKey; readonly reason: RejectReason };

/**
 * For a client: an event to send it, or (flow) whether to stop reading its requests: a
 * client whose accepted requests not yet sent pass its credit is paused at the socket,
 * so flow control reaches the application instead of the daemon's memory.
 */
export type ClientOutput =
  | { readonly client: string; readonly event: chorus.IDaemonEvent; readonly flow?: undefined }
  | { readonly client: string; readonly event?: undefined; readonly flow: 'pause' | 'resume' };

export interface PeerOutput {
  readonly to: PeerKey;
  readonly frame: chorus.IPeerFrame;
}

/**
 * What one step asks the driver to do, in this order: learn addresses, send frames,
 * hand client events to clients, close clients, then arm a wake-up at `wakeAtMs`.
 */
export interface CoreOutput {
  /** Where to dial peers the core wants to talk to. */
  readonly addresses: Array<{ peer: PeerKey; advertise: string }>;
  readonly sends: PeerOutput[];
  readonly clientEvents: ClientOutput[];
  /** Clients to disconnect (the daemon left, or a policy expelled them). */
  readonly closeClients: Array<{ client: string; reason: string }>;
  readonly traces: TraceEvent[];
  /** Earliest time the core wants a tick; undefined: no timer needed. */
  wakeAtMs: number | undefined;
  /** The daemon has left the view (after a `leave` input): the driver may exit. */
  left: boolean;
  /**
   * The daemon took a new incarnation (it stepped down from a lost primary and rejoins
   * as a new member): the driver re-announces itself under this identity.
   */
  identity: DaemonId | undefined;
  /**
   * Addresses to (re)dial as seeds, whose current identity is unknown: a daemon that
   * stepped down looks for the members of its last view, which may have new incarnations.
   */
  readonly probes: string[];
}

export function emptyOutput(): CoreOutput {
  return { addresses: [], sends: [], clientEvents: [], closeClients: [], traces: [], wakeAtMs: undefined, left: false, identity: undefined, probes: [] };
}

/** Order names indexed by the wire enum (chorus.Order): the names the SDK uses. */
export const ORDER_NAMES = ['total', 'fifo', 'causal', 'safe'] as const;
export type OrderName = (typeof ORDER_NAMES)[number];
