// daemon/view-timeline.ts: the operators' timeline built from the core's traces — joins
// and departures with causes, detection (a silent member's silence to the flush) and
// flush durations, group views, and the mode changes.
import { describe, expect, it } from 'vitest';

import { ViewTimeline, type ViewChangeTimes } from '../../daemon/view-timeline.js';

function timeline() {
  let now = 1_000_000;
  const t = new ViewTimeline(() => now);
  const changes: ViewChangeTimes[] = [];
  t.onViewChange((c) => changes.push(c));
  return { t, changes, advance: (ms: number) => (now += ms), now: () => now };
}

describe('ViewTimeline', () => {
  it('a first view, a join, then a crash: causes from the install, detection from the silence, flush from the promise', () => {
    const { t, changes, advance } = timeline();
    t.trace({ type: 'daemon-view', viewId: 1, members: ['a#1'] }, undefined);
    advance(100);
    t.trace({ type: 'flush-start', ballot: 1, proposer: 'a#1' }, 1);
    advance(30);
    t.trace({ type: 'daemon-view', viewId: 2, members: ['a#1', 'b#1'] }, 1);
    advance(5_000);
    // b went silent 800 ms ago: suspected now, the flush starts 20 ms later, installs 50 ms after.
    t.trace({ type: 'suspect', member: 'b#1', silentMs: 800 }, 2);
    advance(20);
    t.trace({ type: 'view-change-start', ballot: 2, proposer: 'a#1', members: ['a#1'] }, 2);
    advance(50);
    t.trace({ type: 'daemon-view', viewId: 3, members: ['a#1'], left: [{ key: 'b#1', cause: 'crash' }] }, 2);

    const [first, join, crash] = t.since();
    expect(first).toMatchObject({ seq: 1, kind: 'daemon-view', viewId: 1, joined: [], left: [] });
    expect(first!.flushMs).toBeUndefined();
    expect(join).toMatchObject({ kind: 'daemon-view', viewId: 2, joined: [{ member: 'b#1', cause: 'join' }], left: [], flushMs: 30 });
    expect(join!.detectionMs).toBeUndefined();
    expect(crash).toMatchObject({ kind: 'daemon-view', viewId: 3, left: [{ member: 'b#1', cause: 'crash' }], detectionMs: 820, flushMs: 50 });
    expect(changes).toEqual([
      { viewId: 2, detectionMs: undefined, flushMs: 30, causes: [] },
      { viewId: 3, detectionMs: 820, flushMs: 50, causes: ['crash'] },
    ]);
    expect(t.since(2).map((e) => e.seq)).toEqual([3]);
    expect(t.lastSeq).toBe(3);
  });

  it('group views carry each departure’s cause; a step-down is a mode entry and the next view starts afresh', () => {
    const { t, changes } = timeline();
    t.trace({ type: 'daemon-view', viewId: 4, members: ['a#1', 'b#1'] }, undefined);
    t.trace({ type: 'group-view', group: 'g', viewId: 2, members: ['x'], joined: ['x'], left: ['y', 'z'], leftCauses: ['expelled', 'leave'] }, 4);
    t.trace({ type: 'step-down', reason: 'excluded from the new view' }, 4);
    t.trace({ type: 'daemon-view', viewId: 6, members: ['a#2', 'b#1'] }, undefined);
    const [, group, mode, rejoined] = t.since();
    expect(group).toMatchObject({
      kind: 'group-view',
      group: 'g',
      viewId: 2,
      joined: [{ member: 'x', cause: 'join' }],
      left: [
        { member: 'y', cause: 'expelled' },
        { member: 'z', cause: 'leave' },
      ],
    });
    expect(mode).toMatchObject({ kind: 'mode', viewId: 4, mode: 'outside the primary component', reason: 'excluded from the new view' });
    expect(rejoined).toMatchObject({ kind: 'daemon-view', viewId: 6, joined: [], left: [] });
    expect(changes).toEqual([]);
  });

  it('keeps a bounded number of entries', () => {
    const { t } = timeline();
    for (let i = 1; i <= 600; i++) t.trace({ type: 'group-view', group: 'g', viewId: i, members: [], joined: [], left: [] }, 1);
    const all = t.since();
    expect(all).toHaveLength(500);
    expect(all[0]!.seq).toBe(101);
  });
});
