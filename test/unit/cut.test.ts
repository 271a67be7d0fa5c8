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
