// The pure pieces of a step-down and of the per-view state (src/core/step-down.ts,
// src/core/view-state.ts).

import { describe, expect, it } from 'vitest';
import { GroupTable } from '../../src/core/group-table.js';
import { groupsAfterPartition } from '../../src/core/step-down.js';
import { ViewState } from '../../src/core/view-state.js';
import type { DaemonView } from '../../src/core/types.js';
import { chorus } from '../../src/wire/gen/chorus.js';

const member = (client: string, daemon: string) => ({ client, daemon, offersState: false, awaitingState: false });

describe('groupsAfterPartition', () => {
  const proto = {
    groups: [
      { name: 'g', viewId: 4, totalSeq: 17, members: [member('c1', 'a'), member('c2', 'b')] },
      { name: 'h', viewId: 2, totalSeq: 0, members: [] },
    ],
  };

  it('empties every group; what is kept is their highest ids, above which any group starts again', () => {
    const after = groupsAfterPartition(GroupTable.fromProto(proto));
    // Empty groups are removed (decision 16): the watermark carries their ids.
    expect(after.groups).toEqual([]);
    expect(after.prunedViewId).toBeGreaterThan(4);
    expect(after.prunedTotalSeq).toBeGreaterThanOrEqual(17);
    const kept = GroupTable.fromProto(after);
    expect(kept.get('g')).toBeUndefined();
    // A join creates the group again above every id it had.
    kept.apply({ kind: chorus.Entry.Kind.GROUP_JOIN, group: 'g', client: 'c9' }, 'a', 'c9/1');
    expect(kept.get('g')!.viewId).toBeGreaterThan(4);
    expect(kept.get('g')!.totalSeq).toBeGreaterThanOrEqual(17);
  });

  it('leaves the table it reads unchanged', () => {
    const table = GroupTable.fromProto(proto);
    const before = JSON.stringify(table.toProto());
    groupsAfterPartition(table);
    expect(JSON.stringify(table.toProto())).toBe(before);
  });
});

describe('ViewState', () => {
  const view: DaemonView = {
    id: 3,
    members: ['a', 'b', 'c'].map((name) => ({ id: { name, incarnation: '1' }, key: `${name}/1`, advertise: '', joinedView: 1 })),
  };

  it('starts a view with empty streams, this daemon at its index', () => {
    const vs = ViewState.install(view, 'b/1');
    expect(vs.myIndex).toBe(1);
    expect(vs.isCoordinator).toBe(false);
    expect(vs.memberIndex('c/1')).toBe(2);
    expect(vs.memberIndex('x/1')).toBe(-1);
    expect(vs.rlog.received).toEqual([0, 0, 0]);
    expect(vs.nextDeliver).toBe(1);
    expect(vs.sentSeq).toBe(0);
    expect(ViewState.install(view, 'a/1').isCoordinator).toBe(true);
  });

  it('refuses a view without this daemon or with a member twice', () => {
    expect(() => ViewState.install(view, 'x/1')).toThrow();
    expect(() => ViewState.install({ id: 4, members: [view.members[0]!, view.members[0]!] }, 'a/1')).toThrow();
  });

  it('after a step-down: no view, nothing to send, the old logs still readable', () => {
    const vs = ViewState.install(view, 'a/1');
    vs.rlog.receive(0, 1, [{ data: new Uint8Array(10) }]);
    vs.sentSeq = 1;
    vs.outbox.push({ data: new Uint8Array(1) });
    expect(vs.ownEntries()).toHaveLength(2);
    const left = vs.leftBehind();
    expect(left.view).toBeUndefined();
    expect(left.myIndex).toBe(-1);
    expect(left.outbox).toEqual([]);
    expect(left.sentSeq).toBe(1);
    expect(left.rlog).toBe(vs.rlog);
    expect(left.memberIndex('a/1')).toBe(-1);
    expect(left.ownEntries()).toEqual([]);
  });
});
