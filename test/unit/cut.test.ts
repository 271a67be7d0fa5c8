// computeCut: what the old daemon view delivers before the next one installs, from the
// participants' acknowledgements. Pure, so each rule of the cut is checked on its own.

import { describe, expect, it } from 'vitest';
import { type CutInput, computeCut } from '../../src/core/cut.js';
import type { chorus } from '../../src/wire/gen/chorus.js';

const BALLOT: chorus.IBallot = { counter: 7, proposer: { name: 'a', incarnation: '1' } };

function ack(fields: Partial<chorus.IProposeAck>): chorus.IProposeAck {
  return { ballot: BALLOT, oldViewId: 3, delivered: 0, orders: [], deliveredSeqs: [], depMarks: [], earlyPassed: [], ...fields };
}

function cut(input: Partial<CutInput> & Pick<CutInput, 'n' | 'acks'>): chorus.ICut {
  return computeCut({ ballot: BALLOT, oldViewId: 3, self: 0, received: new Array<number>(input.n).fill(0), ...input });
}

const run = (sender: number, firstSeq: number, count: number, firstGlobal: number) => ({ sender, firstSeq, count, firstGlobal });

describe('computeCut', () => {
  it('takes the union of what the participants hold, and orders what no one ordered by sender and seq', () => {
    const c = cut({
      n: 3,
      received: [2, 1, 0],
      acks: [
        { index: 0, ack: ack({ received: [2, 1, 0] }) },
        { index: 1, ack: ack({ received: [1, 3, 1] }) },
      ],
    });
    expect(c.ballot).toEqual(BALLOT);
    expect(c.oldViewId).toBe(3);
    expect(c.cutSeqs).toEqual([2, 3, 1]);
    expect(c.orders).toEqual([run(0, 1, 2, 1), run(1, 1, 3, 3), run(2, 1, 1, 6)]);
  });

  it('names a holder for every sender: the proposer when it holds the entries by now, else who reported the most', () => {
    const c = cut({
      n: 3,
      // The proposer received sender 1's entries after its own acknowledgement.
      received: [2, 3, 0],
      acks: [
        { index: 0, ack: ack({ received: [2, 1, 0] }) },
        { index: 2, ack: ack({ received: [1, 3, 1] }) },
      ],
    });
    expect(c.holders).toEqual([0, 0, 2]);
  });

  it('continues the longest order a participant knows, from the least any participant delivered', () => {
    const c = cut({
      n: 2,
      received: [2, 2],
      acks: [
        { index: 0, ack: ack({ received: [2, 2], delivered: 2, deliveredSeqs: [1, 1], orders: [run(0, 1, 1, 1), run(1, 1, 1, 2), run(1, 2, 1, 3)] }) },
        { index: 1, ack: ack({ received: [2, 2], delivered: 1, deliveredSeqs: [1, 0], orders: [run(0, 1, 1, 1), run(1, 1, 1, 2)] }) },
      ],
    });
    // Global 2 and 3 as the sequencer ordered them, then sender 0's seq 2 in a new slot.
    expect(c.orders).toEqual([run(1, 1, 1, 2), run(1, 2, 1, 3), run(0, 2, 1, 4)]);
    expect(c.cutSeqs).toEqual([2, 2]);
  });

  it('skips an ordered slot no participant holds, and cuts a later entry whose causal barrier reaches it', () => {
    // Senders 2 and 3 crashed. Global 1 is 2/1, which no survivor holds; global 2 is 3/1,
    // sent after its sender delivered global 1 (dep 1).
    const orders = [run(2, 1, 1, 1), run(3, 1, 1, 2)];
    const dependent = cut({
      n: 4,
      acks: [
        { index: 0, ack: ack({ received: [0, 0, 0, 1], orders, depMarks: [{ sender: 3, seq: 1, dep: 1 }] }) },
        { index: 1, ack: ack({ received: [0, 0, 0, 0], orders }) },
      ],
    });
    expect(dependent.cutSeqs).toEqual([0, 0, 0, 0]);
    // The same entry sent before its sender delivered anything survives the lost slot.
    const independent = cut({
      n: 4,
      acks: [
        { index: 0, ack: ack({ received: [0, 0, 0, 1], orders, depMarks: [{ sender: 3, seq: 1, dep: 0 }] }) },
        { index: 1, ack: ack({ received: [0, 0, 0, 0], orders }) },
      ],
    });
    expect(independent.cutSeqs).toEqual([0, 0, 0, 1]);
    expect(independent.orders).toEqual(orders);
  });

  it('cuts a causal entry whose causal past did not survive', () => {
    // 2/1 is causal and follows 1/1, which no participant holds.
    const c = cut({
      n: 3,
      acks: [
        { index: 0, ack: ack({ received: [0, 0, 1], depMarks: [{ sender: 2, seq: 1, dep: 0, causal: { passed: [0, 1, 0] } }] }) },
        { index: 1, ack: ack({ received: [0, 0, 0] }) },
      ],
    });
    expect(c.cutSeqs).toEqual([0, 0, 0]);
    expect(c.orders).toEqual([]);
  });

  it('cuts an ordered entry whose causal vector names an entry no participant holds (seed 114207)', () => {
    // Sender 3 (the sequencer) delivered 2/1 (fifo) early, then sent 3/1 (safe) with a
    // causal vector naming 2/1, and ordered both. Both crashed; the survivors hold 3/1 and
    // the order, not 2/1, and 3/1's barrier (no global seq delivered yet) names no slot.
    const orders = [run(2, 1, 1, 1), run(3, 1, 1, 2)];
    const c = cut({
      n: 4,
      acks: [
        { index: 0, ack: ack({ received: [0, 0, 0, 1], orders, depMarks: [{ sender: 3, seq: 1, dep: 0, causal: { passed: [0, 0, 1, 0] } }] }) },
        { index: 1, ack: ack({ received: [0, 0, 0, 1], orders }) },
      ],
    });
    expect(c.cutSeqs).toEqual([0, 0, 0, 0]);
  });

  it('places a causal entry after its causal past, even from a higher sender index', () => {
    // 0/1 is causal and follows 2/1: sender order alone would put it first.
    const c = cut({
      n: 3,
      acks: [
        { index: 0, ack: ack({ received: [1, 0, 1], depMarks: [{ sender: 0, seq: 1, dep: 0, causal: { passed: [0, 0, 1] } }] }) },
        { index: 1, ack: ack({ received: [1, 0, 1] }) },
      ],
    });
    expect(c.cutSeqs).toEqual([1, 0, 1]);
    expect(c.orders).toEqual([run(2, 1, 1, 1), run(0, 1, 1, 2)]);
  });

  it('keeps what a participant delivered early even when its barrier names a lost slot', () => {
    // As in the skipped-slot case, but a survivor delivered 3/1 early (earlyPassed): it
    // must stay in the cut, with its sender's FIFO prefix.
    const orders = [run(2, 1, 1, 1), run(3, 1, 1, 2)];
    const c = cut({
      n: 4,
      acks: [
        { index: 0, ack: ack({ received: [0, 0, 0, 1], orders, depMarks: [{ sender: 3, seq: 1, dep: 1 }], earlyPassed: [0, 0, 0, 1] }) },
        { index: 1, ack: ack({ received: [0, 0, 0, 0], orders }) },
      ],
    });
    expect(c.cutSeqs).toEqual([0, 0, 0, 1]);
  });
});

// computeCut with acknowledgements where an entry delivered early at a survivor (kept)
// names, in its causal vector, an entry whose own past no participant holds. Honest
// daemons no longer produce this (EarlyDelivery passes an entry only after its causal
// past, even in a group without a local member), but a lying member can: the cut keeps
// what a kept entry names (to a fixpoint) and never throws, where its invariant used to
// stop every proposer in turn (found by an attack on f784283).
const T1: chorus.IDepMark = { sender: 4, seq: 1, dep: 0, causal: { passed: [0, 0, 0, 1, 0] } };
const K: chorus.IDepMark = { sender: 0, seq: 1, dep: 0, causal: { passed: [0, 0, 0, 0, 1] } };

describe('pastLost cuts an entry that a kept early delivery names', () => {
  it('t/1 ordered, K not ordered yet: the cut must not throw (it did not before f784283)', () => {
    const orders = [run(3, 1, 1, 1), run(4, 1, 1, 2)];
    const acks = [
      { index: 0, ack: ack({ received: [1, 0, 0, 0, 1], orders, depMarks: [T1, K], earlyPassed: [1, 0, 0, 0, 0] }) },
      { index: 1, ack: ack({ received: [1, 0, 0, 0, 0] }) },
      { index: 2, ack: ack({ received: [1, 0, 0, 0, 0] }) },
    ];
    // K was delivered at S: every survivor must deliver it (virtual synchrony).
    const c = cut({ n: 5, received: [1, 0, 0, 0, 1], acks });
    expect(c.cutSeqs![0]).toBe(1);
  });

  it('t/1 and K both ordered: K (delivered at S) is kept but t/1, in its vector, is cut', () => {
    const orders = [run(3, 1, 1, 1), run(4, 1, 1, 2), run(0, 1, 1, 3)];
    const acks = [
      { index: 0, ack: ack({ received: [1, 0, 0, 0, 1], orders, depMarks: [T1, K], earlyPassed: [1, 0, 0, 0, 0] }) },
      { index: 1, ack: ack({ received: [1, 0, 0, 0, 0] }) },
      { index: 2, ack: ack({ received: [1, 0, 0, 0, 0] }) },
    ];
    const c = cut({ n: 5, received: [1, 0, 0, 0, 1], acks });
    // Report what the cut decided: K kept, t/1 cut (before f784283: both kept).
    expect({ K: c.cutSeqs![0], t1: c.cutSeqs![4] }).toEqual({ K: 1, t1: 1 });
  });
});

describe('the causal barrier path (older than f784283)', () => {
  it('t delivered u/1 in order and sent t/1 (total, barrier 1): S passed t/1 without u/1 and delivered K early', () => {
    // u/1 is total here; t/1 carries no vector, only its barrier dep = 1 (the slot of u/1).
    const t1: chorus.IDepMark = { sender: 4, seq: 1, dep: 1 };
    const orders = [run(3, 1, 1, 1), run(4, 1, 1, 2)];
    const acks = [
      { index: 0, ack: ack({ received: [1, 0, 0, 0, 1], orders, depMarks: [t1, K], earlyPassed: [1, 0, 0, 0, 0] }) },
      { index: 1, ack: ack({ received: [1, 0, 0, 0, 0] }) },
      { index: 2, ack: ack({ received: [1, 0, 0, 0, 0] }) },
    ];
    const c = cut({ n: 5, received: [1, 0, 0, 0, 1], acks });
    expect(c.cutSeqs![0]).toBe(1);
  });
});
