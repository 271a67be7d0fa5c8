// chorusd logging: pino, JSON lines by default, pretty-printed when stdout is a terminal
// (DESIGN.md "Operating it").
//
// Conventions (pino's docs, STYLE.md): every line carries `{ daemon: name }`; each part
// of the daemon logs through a child logger with `{ component: '...' }`; errors go under
// `err`; payloads (message data, state chunks, secrets, tokens) are never logged — only
// their sizes.
//
// The `ready` line is the daemon's contract with scripts and tests (API.md): always one
// JSON line on stdout, even when the other lines are pretty-printed, so it is written by
// `printReadyLine` straight to stdout rather than through pino.

import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';
import pinoPretty from 'pino-pretty';

import type { LogLevel } from './config.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Daemon name, bound as `daemon` on every line. */
  readonly name: string;
  readonly level: LogLevel;
  /** Pretty-print (default: when stdout is a TTY). */
  readonly pretty?: boolean;
  /** Where lines go (default: stdout). Tests pass a stream to capture them. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const pinoOptions = {
    level: options.level,
    base: { daemon: options.name },
    // Our own keys stay stable; pid/hostname add noise and `daemon` already names the host.
    serializers: { err: pino.stdSerializers.err },
  };
  const destination = options.destination ?? pino.destination({ fd: 1, sync: true });
  if (pretty) {
    // pino-pretty's formatter run synchronously in-process (not a worker-thread
    // transport): lines come out in order with the ready line, and nothing is lost when
    // the daemon exits.
    const prettify = pinoPretty.prettyFactory({
      colorize: options.destination === undefined && process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,daemon,component',
      messageFormat: '{daemon} {if component}{component}: {end}{msg}',
    });
    return pino(pinoOptions, { write: (line: string) => destination.write(prettify(line)) });
  }
  return pino(pinoOptions, destination);
}

export interface ReadyFields {
  /** Actual `host:port` of the client gateway. */
  readonly client: string;
  /** Actual `host:port` of the peer listener. */
  readonly listen: string;
  /** Actual `host:port` of the admin server. */
  readonly admin: string;
  readonly name: string;
  readonly cluster: string;
  readonly [extra: string]: unknown;
}

/**
 * Writes the `ready` line: one JSON object with `"msg":"ready"` and the actual addresses,
 * on its own line on stdout (API.md: JSON even when other logs are pretty).
 */
export function printReadyLine(fields: ReadyFields, out: { write(s: string): unknown } = process.stdout): void {
  out.write(JSON.stringify({ level: 30, time: Date.now(), msg: 'ready', ...fields }) + '\n');
}
