// What chorusd does about a peer's invalid frames (issue 10, must-have 1): every one is
// counted by the caller; the log gets at most one warn line per peer per `logMs` (with
// how many went unlogged), and a peer that sends `limit` of them within `windowMs` is to
// be disconnected. Pure (the caller passes the time), bounded (at most `maxPeers` tracked).

export interface RejectionVerdict {
  /** Write a warn line for this one. */
  readonly log: boolean;
  /** Rejections from this peer since its last warn line that were not logged. */
  readonly notLogged: number;
  /** Disconnect the peer: it reached the limit within the window. */
  readonly disconnect: boolean;
  /** Rejections from this peer in the current window (this one included). */
  readonly count: number;
}

export interface PeerRejectionOptions {
  readonly limit?: number;
  readonly windowMs?: number;
  readonly logMs?: number;
  readonly maxPeers?: number;
}

export class PeerRejections {
  readonly limit: number;
  readonly windowMs: number;
  private readonly logMs: number;
  private readonly maxPeers: number;
  private readonly peers = new Map<string, { windowStartMs: number; count: number; loggedMs: number; notLogged: number }>();

  constructor(options: PeerRejectionOptions = {}) {
    this.limit = options.limit ?? 20;
    this.windowMs = options.windowMs ?? 10_000;
    this.logMs = options.logMs ?? 5_000;
    this.maxPeers = options.maxPeers ?? 1024;
  }

  note(peer: string, nowMs: number): RejectionVerdict {
    let r = this.peers.get(peer);
    if (r === undefined) {
      if (this.peers.size >= this.maxPeers) this.peers.clear(); // bounded: forget old offenders
      r = { windowStartMs: nowMs, count: 0, loggedMs: Number.NEGATIVE_INFINITY, notLogged: 0 };
      this.peers.set(peer, r);
    }
    if (nowMs - r.windowStartMs > this.windowMs) {
      r.windowStartMs = nowMs;
      r.count = 0;
    }
    r.count += 1;
    const count = r.count;
    let log = false;
    let notLogged = 0;
    if (nowMs - r.loggedMs >= this.logMs) {
      log = true;
      notLogged = r.notLogged;
      r.loggedMs = nowMs;
      r.notLogged = 0;
    } else {
      r.notLogged += 1;
    }
    const disconnect = count >= this.limit;
    if (disconnect) this.peers.delete(peer);
    return { log, notLogged, disconnect, count };
  }
}
