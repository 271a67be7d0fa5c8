// Members of a daemon view: their age order (the oldest is the coordinator and the
// sequencer) and their wire form.
import type { chorus } from '../wire/gen/chorus.js';
import { type PeerKey, type ViewMember, peerKey } from './types.js';

/** Age order: the daemon view joined first, then name, then incarnation. */
export function compareAge(a: ViewMember, b: ViewMember): number {
  if (a.joinedView !== b.joinedView) return a.joinedView - b.joinedView;
  if (a.id.name !== b.id.name) return a.id.name < b.id.name ? -1 : 1;
  return a.id.incarnation < b.id.incarnation ? -1 : a.id.incarnation > b.id.incarnation ? 1 : 0;
}

export function keyToId(key: PeerKey): chorus.IDaemonId {
  const at = key.lastIndexOf('#');
  return { name: key.slice(0, at), incarnation: key.slice(at + 1) };
}

export function memberToProto(m: ViewMember): chorus.IMember {
  return { id: { name: m.id.name, incarnation: m.id.incarnation }, advertise: m.advertise, joinedView: m.joinedView };
}

export function memberFromProto(m: chorus.IMember): ViewMember {
  const id = { name: m.id?.name ?? '', incarnation: m.id?.incarnation ?? '' };
  return { id, key: peerKey(id), advertise: m.advertise ?? '', joinedView: m.joinedView ?? 0 };
}
