// Ballots of the view change: a proposal's number and proposer. Members acknowledge only
// the highest ballot they saw, so competing proposals are ordered (Paxos' ballots): the
// higher counter wins, then the smaller proposer name and incarnation.
import type { chorus } from '../wire/gen/chorus.js';
import type { DaemonId } from './types.js';

export interface Ballot {
  readonly counter: number;
  readonly proposer: DaemonId;
}

export function compareBallot(a: Ballot, b: Ballot): number {
  if (a.counter !== b.counter) return a.counter - b.counter;
  if (a.proposer.name !== b.proposer.name) return a.proposer.name < b.proposer.name ? 1 : -1;
  if (a.proposer.incarnation !== b.proposer.incarnation) return a.proposer.incarnation < b.proposer.incarnation ? 1 : -1;
  return 0;
}

export function ballotFromProto(b: chorus.IBallot | null | undefined): Ballot {
  return { counter: b?.counter ?? 0, proposer: { name: b?.proposer?.name ?? '', incarnation: b?.proposer?.incarnation ?? '' } };
}

export function ballotToProto(b: Ballot): chorus.IBallot {
  return { counter: b.counter, proposer: { name: b.proposer.name, incarnation: b.proposer.incarnation } };
}

export function ballotEquals(p: chorus.IBallot | null | undefined, b: Ballot): boolean {
  return compareBallot(ballotFromProto(p), b) === 0;
}
