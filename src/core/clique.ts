// The clique rule of a view change: when only some pairs of daemons cannot reach each
// other (one-way or single-pair link failures), the proposal keeps the largest set of
// daemons that all reach each other, so the one daemon with broken links is the one
// excluded and a majority that is connected never shrinks to a minority (an age-greedy
// choice kept the faulty daemon and dropped every healthy one it could not reach).
//
// Pure: members are indexes 0..n-1 in age order (0 is the oldest); `conflict(a, b)` says
// that a and b cannot both stay (one suspects the other).

/** Above this many candidates the exact search is replaced by a greedy one (bounded work). */
const EXACT_MAX = 20;

/**
 * The largest set of `candidates` that contains `self` and has no conflicting pair. Ties
 * go to the set whose members are oldest (compared member by member in age order), so
 * every daemon computing from the same suspicions picks the same set. Returns indexes
 * in increasing (age) order.
 */
export function largestClique(candidates: readonly number[], self: number, conflict: (a: number, b: number) => boolean): number[] {
  const others = candidates.filter((c) => c !== self && !conflict(c, self)).sort((a, b) => a - b);
  if (others.length > EXACT_MAX) return greedy(others, self, conflict);
  const n = others.length;
  // adjacency as bit masks over `others`
  const ok = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && !conflict(others[i]!, others[j]!)) ok[i]! |= 1 << j;
  let best = 0;
  let bestSize = -1;
  // Branch and bound over `others` in age order: taking a member before leaving it out
  // finds, among the largest sets, the one with the oldest members first.
  const search = (i: number, chosen: number, allowed: number, size: number): void => {
    if (size + popcount(allowed >>> i) <= bestSize) return;
    if (i === n) {
      best = chosen;
      bestSize = size;
      return;
    }
    if (allowed & (1 << i)) search(i + 1, chosen | (1 << i), allowed & ok[i]!, size + 1);
    search(i + 1, chosen, allowed & ~(1 << i), size);
  };
  search(0, 0, n === 0 ? 0 : n >= 31 ? -1 : (1 << n) - 1, 0);
  const out = [self];
  for (let i = 0; i < n; i++) if (best & (1 << i)) out.push(others[i]!);
  return out.sort((a, b) => a - b);
}

function greedy(others: readonly number[], self: number, conflict: (a: number, b: number) => boolean): number[] {
  // Fewest conflicts first, then age: a daemon with broken links goes before healthy ones.
  const degree = (x: number) => others.filter((y) => y !== x && conflict(x, y)).length;
  const order = [...others].sort((a, b) => degree(a) - degree(b) || a - b);
  const kept = [self];
  for (const x of order) if (kept.every((k) => !conflict(x, k))) kept.push(x);
  return kept.sort((a, b) => a - b);
}

function popcount(x: number): number {
  let c = 0;
  for (let v = x >>> 0; v !== 0; v &= v - 1) c++;
  return c;
}
