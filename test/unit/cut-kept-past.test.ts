// computeCut with acknowledgements where an entry delivered early at a survivor (kept)
// names, in its causal vector, an entry whose own past no participant holds. Honest
// daemons no longer produce this (EarlyDelivery passes an entry only after its causal
// past, even in a group without a local member), but a lying member can: the cut keeps
// what a kept entry names (to a fixpoint) and never throws, where its invariant used to
// stop every proposer in turn (found by an attack on f784283).
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
