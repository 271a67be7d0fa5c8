// The quorum rule of the primary component (guarantee 5): a new view needs more than
// half of a previous view's members, or exactly half including its oldest member.

export function hasQuorum(participants: readonly string[], view: readonly string[]): boolean {
  if (view.length === 0) return true;
  const present = new Set(participants);
  let count = 0;
  for (const m of view) if (present.has(m)) count++;
  return count * 2 > view.length || (count * 2 === view.length && present.has(view[0]!));
}
