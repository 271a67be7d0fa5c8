// The board's replicated state: the list of strokes, in the group's total order.
//
// Deterministic on purpose: every page applies the same delivered commands in the same
// order (guarantee 4, `total`), and a command is validated the same way everywhere, so
// equal histories give equal drawings — and equal digests, which the page shows and the
// test compares. A joiner starts from snapshot() of a member, taken at an exact point of
// that order (state transfer, guarantee 6), then applies the commands after it.
//
// Commands (JSON, UTF-8):
//   {"t":"stroke","color":"#rrggbb","width":N,"points":[x0,y0,x1,y1,...]}
//   {"t":"clear"}
// Coordinates are integers in the board's 800 × 500 units.

export const WIDTH = 800;
export const HEIGHT = 500;
/** Numbers in one stroke's points at most (pairs), and strokes kept at most. */
export const MAX_POINT_NUMBERS = 4096;
export const MAX_STROKES = 10_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Drawing {
  /** @type {Array<{ by: string, color: string, width: number, points: number[] }>} */
  strokes = [];

  /**
   * Applies one delivered command; returns what changed ('stroke', 'clear') or undefined
   * for a command that is refused (malformed: ignored by every page alike).
   */
  apply(sender, bytes) {
    let cmd;
    try {
      cmd = JSON.parse(decoder.decode(bytes));
    } catch {
      return undefined;
    }
    if (cmd?.t === 'clear') {
      this.strokes = [];
      return 'clear';
    }
    const stroke = validStroke(cmd);
    if (stroke === undefined || this.strokes.length >= MAX_STROKES) return undefined;
    this.strokes.push({ by: sender, ...stroke });
    return 'stroke';
  }

  /** The whole state, as the bytes a joiner installs. */
  snapshot() {
    return encoder.encode(JSON.stringify({ v: 1, strokes: this.strokes }));
  }

  /** Replaces the state with a snapshot (never merges: install() may run twice). */
  restore(bytes) {
    const parsed = JSON.parse(decoder.decode(bytes));
    if (parsed?.v !== 1 || !Array.isArray(parsed.strokes)) throw new Error('not a board snapshot');
    const strokes = [];
    for (const s of parsed.strokes.slice(0, MAX_STROKES)) {
      const stroke = validStroke({ t: 'stroke', ...s });
      if (stroke !== undefined && typeof s.by === 'string') strokes.push({ by: s.by, ...stroke });
    }
    this.strokes = strokes;
  }

  /** FNV-1a (32 bit) of the snapshot: equal drawings, equal digests. */
  digest() {
    let h = 0x811c9dc5;
    for (const b of this.snapshot()) {
      h ^= b;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(16).padStart(8, '0');
  }
}

export function strokeCommand(color, width, points) {
  return JSON.stringify({ t: 'stroke', color, width, points });
}

export function clearCommand() {
  return JSON.stringify({ t: 'clear' });
}

function validStroke(cmd) {
  if (cmd?.t !== 'stroke') return undefined;
  const { color, width, points } = cmd;
  if (typeof color !== 'string' || !/^#[0-9a-f]{6}$/.test(color)) return undefined;
  if (!Number.isInteger(width) || width < 1 || width > 40) return undefined;
  if (!Array.isArray(points) || points.length < 2 || points.length > MAX_POINT_NUMBERS || points.length % 2 !== 0) return undefined;
  for (let i = 0; i < points.length; i++) {
    const v = points[i];
    if (!Number.isInteger(v) || v < 0 || v > (i % 2 === 0 ? WIDTH : HEIGHT)) return undefined;
  }
  return { color, width, points };
}
