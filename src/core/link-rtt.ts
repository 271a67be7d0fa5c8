// Round-trip times to the other members of the view, from heartbeats (observability
// only: nothing in the protocol reads them). Each heartbeat to member i carries this
// daemon's clock (`sentMs`) and echoes the last `sentMs` heard from i with how long it
// was held here (`echoMs`, `echoHoldMs`); when i's heartbeat echoes ours, the round trip
// is now - echoMs - echoHoldMs. Clocks are never compared across daemons. A peer can
// make its own row wrong (a lie only shows on the status page), never another's.
import type { chorus } from '../wire/gen/chorus.js';

export class LinkRtt {
  /** Per member: the last `sentMs` heard from it, and when (this daemon's clock). */
  private heardAt: Array<{ sentMs: number; atMs: number } | undefined> = [];
  /** Per member: the latest round trip measured (ms), undefined before the first. */
  readonly rttMs: Array<number | undefined> = [];

  constructor(members: number) {
    this.heardAt = new Array<undefined>(members).fill(undefined);
    this.rttMs.length = members;
  }

  /** The timing fields of a heartbeat to member `i`. */
  stamp(i: number, nowMs: number): Pick<chorus.IHeartbeat, 'sentMs' | 'echoMs' | 'echoHoldMs'> {
    const heard = this.heardAt[i];
    if (heard === undefined) return { sentMs: nowMs };
    return { sentMs: nowMs, echoMs: heard.sentMs, echoHoldMs: nowMs - heard.atMs };
  }

  /** A heartbeat from member `i`. */
  heard(i: number, hb: chorus.IHeartbeat, nowMs: number): void {
    if (i < 0 || i >= this.heardAt.length) return;
    const sent = hb.sentMs ?? 0;
    if (Number.isFinite(sent) && sent > 0) this.heardAt[i] = { sentMs: sent, atMs: nowMs };
    const echo = hb.echoMs ?? 0;
    const hold = hb.echoHoldMs ?? 0;
    if (!Number.isFinite(echo) || !Number.isFinite(hold) || echo <= 0 || hold < 0) return;
    const rtt = nowMs - echo - hold;
    if (rtt >= 0 && rtt < 3_600_000) this.rttMs[i] = rtt;
  }
}
