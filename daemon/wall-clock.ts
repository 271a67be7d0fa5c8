// Wall-clock time in ms with sub-ms resolution, the same clock in every process of one
// host: the timestamps of the daemons' event logs (CHORUS_EVENT_LOG), of the fault
// harness's recorder, and of the bench's message headers, compared across processes.
//
// Not `performance.timeOrigin + performance.now()`: a process's time origin can be off
// the realtime clock by several ms, for the whole life of the process (presumably when
// it is descheduled during startup, between the readings that define the origin). The
// fault soak saw a daemon restarted on the loaded host run 6 ms ahead of the harness:
// its clients' deliveries of its messages sorted before their sends in the merged
// history, and the checker reported causal cycles for as long as that daemon lived.
//
// Instead the monotonic clock (performance.now()) is anchored to the realtime clock once,
// at a tick of Date.now(): Date.now() changes to d exactly when the realtime clock passes
// d ms, so a tick observed between two monotonic readings pins the offset to within their
// gap. Of a few ticks the one with the smallest gap is kept (a preempted sample has a
// large gap and loses). Afterwards the clock is monotonic, like performance.now().
import { performance } from 'node:perf_hooks';

/** Ticks sampled when anchoring (each costs up to 1 ms of spinning, once per process)… */
const MIN_SAMPLES = 3;
const MAX_SAMPLES = 20;
/** …until one was observed within this many ms (not preempted). */
const GOOD_GAP_MS = 0.02;

let offsetMs: number | undefined;
let anchorErrorMs = Number.POSITIVE_INFINITY;

/** Anchors the clock (done on first use; a daemon calls it at start, off the hot path). */
export function calibrateWallClock(): void {
  let best = Number.POSITIVE_INFINITY;
  let offset = Date.now() - performance.now();
  for (let i = 0; i < MAX_SAMPLES && (i < MIN_SAMPLES || best > GOOD_GAP_MS); i++) {
    const d0 = Date.now();
    let before = performance.now();
    let d1 = Date.now();
    while (d1 === d0) {
      before = performance.now();
      d1 = Date.now();
    }
    const after = performance.now();
    // The realtime clock passed d1 ms between `before` and `after`.
    if (after - before < best) {
      best = after - before;
      offset = d1 - (before + after) / 2;
    }
  }
  offsetMs = offset;
  anchorErrorMs = best / 2;
}

/** Wall-clock ms (Unix epoch) with sub-ms resolution, comparable across processes of one host. */
export function wallClockMs(): number {
  if (offsetMs === undefined) calibrateWallClock();
  return offsetMs! + performance.now();
}

/** How far off the anchoring may be, in ms (half the gap around the tick it used). */
export function wallClockErrorMs(): number {
  if (offsetMs === undefined) calibrateWallClock();
  return anchorErrorMs;
}
