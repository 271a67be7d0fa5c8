// The one rule for ids that an operator's force-primary may legitimately use again.
//
// Ids (daemon view ids, group view ids, group seqs) live in memory only. Force-primary
// continues above the highest ids the daemons that are up know; what only crashed
// processes had known died with them. So after a forced view an id may be used again
// when every earlier use of it was by processes that died before that forced view: the
// earlier uses are a "lost era". Nothing else excuses two uses of one id (two uses
// before a force, or uses by a process still alive, are two primaries or a real reuse).
// primary-component.ts (daemon views), ordering.ts (group seqs) and history-index.ts
// (group views, moved apart before any check) all ask this question.

/** One use of an id: when, and by whom (a daemon key or a member id). */
export interface IdUse {
  readonly t: number;
  readonly who: string;
}

/**
 * Whether `ways[i]` (one way an id was used: one member list, one message at a seq) is
 * from a lost era, given the other ways the same id was used: some forced view at time
 * tf has every use in `ways[i]` at or before tf by a process that died at or before tf,
 * and some use of another way at or after tf.
 */
export function isLostEra(
  ways: readonly (readonly IdUse[])[],
  i: number,
  forcedAt: readonly number[],
  diedAt: (who: string) => number | undefined,
): boolean {
  const uses = ways[i]!;
  return forcedAt.some(
    (tf) =>
      uses.every((u) => u.t <= tf && (diedAt(u.who) ?? Number.POSITIVE_INFINITY) <= tf) &&
      ways.some((o, j) => j !== i && o.some((u) => u.t >= tf)),
  );
}
