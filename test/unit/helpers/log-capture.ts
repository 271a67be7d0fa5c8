// A debug logger whose JSON lines a test can read back: the peer-link and gateway tests each built their own.
import { createLogger, type Logger } from '../../../daemon/logger.js';

export interface Captured {
  logger: Logger;
  lines: Record<string, unknown>[];
}

/** A logger named `name` at level debug whose lines are parsed into `lines`, in order. */
export function capture(name: string): Captured {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    name,
    level: 'debug',
    pretty: false,
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  });
  return { logger, lines };
}
