// A broken guarantee found in a history: data, not a throw, so one run can report
// every violation it holds. `guarantee` is the number in ../shared/DESIGN.md.

export type Guarantee = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export interface Violation {
  readonly guarantee: Guarantee;
  /** Stable short name of the rule, e.g. `same-set`, `two-primaries`. */
  readonly rule: string;
  /** Readable: names the group, the view, the members and the message ids involved. */
  readonly message: string;
  /** The recorded events that show the violation. */
  readonly events?: unknown[];
}

export function violation(guarantee: Guarantee, rule: string, message: string, events?: unknown[]): Violation {
  return events === undefined || events.length === 0 ? { guarantee, rule, message } : { guarantee, rule, message, events };
}

/** One line per violation: `G2 same-set: …`. */
export function formatViolation(v: Violation): string {
  return `G${v.guarantee} ${v.rule}: ${v.message}`;
}

/** A report for a failing run: at most `limit` lines, then a count of the rest. */
export function formatViolations(violations: readonly Violation[], limit = 50): string {
  const lines = violations.slice(0, limit).map(formatViolation);
  if (violations.length > limit) lines.push(`… and ${violations.length - limit} more`);
  return lines.join('\n');
}

/** `[a, b, c]` */
export function list(items: Iterable<string>): string {
  return `[${[...items].join(', ')}]`;
}
