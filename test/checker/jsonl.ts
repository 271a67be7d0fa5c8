// Reading recorded histories: one JSON event per line (JSON lines), as the simulator
// and the real-process tests write them. The only IO of the checker.
import { readFile } from 'node:fs/promises';

import { ORDERS, type HistoryEvent } from './history.js';

type FieldKind = 'string' | 'number' | 'strings' | 'record' | 'order';

/** The fields each known event type needs; other types pass through (ignored later). */
const FIELDS: Readonly<Record<string, Readonly<Record<string, FieldKind>>>> = {
  'daemon-view': { daemon: 'string', viewId: 'number', members: 'strings' },
  'group-view': {
    member: 'string',
    group: 'string',
    viewId: 'number',
    members: 'strings',
    joined: 'strings',
    left: 'strings',
    causes: 'record',
  },
  send: { member: 'string', group: 'string', id: 'string', order: 'order', viewId: 'number' },
  deliver: { member: 'string', group: 'string', id: 'string', sender: 'string', order: 'order', viewId: 'number', seq: 'number' },
  expelled: { member: 'string', group: 'string', reason: 'string' },
  leave: { member: 'string', group: 'string' },
  crash: { member: 'string' },
  'daemon-crash': { daemon: 'string' },
  'daemon-left': { daemon: 'string', viewId: 'number' },
};

function hasKind(value: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'record':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'order':
      return (ORDERS as readonly unknown[]).includes(value);
  }
}

/** A history file that is not valid JSON lines; `line` is 1-based. */
export class HistoryFormatError extends Error {
  readonly path: string;
  readonly line: number;
  constructor(path: string, line: number, message: string, options?: { cause?: unknown }) {
    super(`${path}:${line}: ${message}`, options);
    this.name = new.target.name;
    this.path = path;
    this.line = line;
  }
}

/** Parses JSON-lines text; blank lines are skipped. `source` names it in errors. */
export function parseHistory(text: string, source = '<history>'): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new HistoryFormatError(source, i + 1, `bad JSON: ${(err as Error).message}`, { cause: err });
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new HistoryFormatError(source, i + 1, 'an event must be a JSON object');
    }
    const event = value as { type?: unknown; t?: unknown };
    if (typeof event.type !== 'string') throw new HistoryFormatError(source, i + 1, 'an event needs a string "type"');
    if (typeof event.t !== 'number') throw new HistoryFormatError(source, i + 1, 'an event needs a number "t"');
    for (const [field, kind] of Object.entries(FIELDS[event.type] ?? {})) {
      if (!hasKind((value as Record<string, unknown>)[field], kind)) {
        throw new HistoryFormatError(source, i + 1, `a "${event.type}" event needs "${field}" (${kind})`);
      }
    }
    events.push(value as HistoryEvent);
  }
  return events;
}

export async function readHistory(path: string): Promise<HistoryEvent[]> {
  return parseHistory(await readFile(path, 'utf8'), path);
}

/**
 * Merges histories recorded separately (one per process) into one, by `t`. The order
 * inside each list is kept as it is, even where its `t` goes backwards: that order is
 * what the checker relies on, so each member's events must all come from one list.
 * Ties go to the earlier list.
 */
export function mergeHistories(...lists: ReadonlyArray<readonly HistoryEvent[]>): HistoryEvent[] {
  const out: HistoryEvent[] = [];
  const next = lists.map(() => 0);
  for (;;) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      const e = lists[i]![next[i]!];
      if (e === undefined) continue;
      if (best === -1 || e.t < lists[best]![next[best]!]!.t) best = i;
    }
    if (best === -1) return out;
    out.push(lists[best]![next[best]!]!);
    next[best]! += 1;
  }
}
