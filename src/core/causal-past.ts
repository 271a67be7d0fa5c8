// Causal past vectors: per sender index of the daemon view, how far a stream was passed
// (Entry.causal.passed records it for the sender of a causal entry). An entry may be
// ordered, delivered early or placed in a cut only once its causal past is.

/** `have[t] >= need[t]` for every member t but `except` (whose own FIFO covers it). */
export function allAtLeast(have: readonly number[], need: readonly number[], except: number): boolean {
  for (let t = 0; t < need.length; t++) if (t !== except && (have[t] ?? 0) < need[t]!) return false;
  return true;
}
