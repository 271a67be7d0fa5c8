// chorusd/daemon: run chorusd programmatically (`startDaemon`) or as the CLI (`main`).
import { VERSION } from './version.js';
import { ConfigError } from '../src/errors.js';
import { resolveConfig, USAGE, type DaemonConfig } from './config.js';
import { Daemon, type DaemonAddresses } from './daemon.js';
import { createLogger, printReadyLine, type Logger } from './logger.js';

export { Daemon } from './daemon.js';
export type { DaemonAddresses } from './daemon.js';
export type { DaemonConfig } from './config.js';

export interface StartOptions {
  /** Use this logger instead of one built from the config. */
  readonly logger?: Logger;
}

/**
 * Start a daemon from chorusd flags and CHORUS_* variables (see `chorusd --help` and the README's Configuration). Resolves once
 * it accepts clients; `daemon.addresses` holds the actual addresses (port 0 works).
 */
export async function startDaemon(argv: readonly string[] = [], env: NodeJS.ProcessEnv = process.env, options: StartOptions = {}): Promise<Daemon> {
  const config: DaemonConfig = resolveConfig(argv, env);
  const logger = options.logger ?? createLogger({ name: config.name, level: config.logLevel });
  const eventLog = env.CHORUS_EVENT_LOG !== undefined && env.CHORUS_EVENT_LOG !== '' ? env.CHORUS_EVENT_LOG : undefined;
  const daemon = new Daemon({ config, logger, ...(eventLog !== undefined ? { eventLog } : {}) });
  await daemon.start();
  return daemon;
}

/** The chorusd command: start, print the ready line, leave cleanly on SIGTERM/SIGINT. */
export async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--version') || argv.includes('-V')) {
    process.stdout.write(`chorusd ${VERSION}\n`);
    return;
  }
  if (argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let config: DaemonConfig;
  try {
    config = resolveConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      // The error and where to look, not the whole usage (it buried the error).
      process.stderr.write(`chorusd: ${err.message}\nRun "chorusd --help" for the flags.\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const logger = createLogger({ name: config.name, level: config.logLevel });
  const daemon = await startDaemon(argv, process.env, { logger });
  const addresses: DaemonAddresses = daemon.addresses;
  printReadyLine({ ...addresses, name: config.name, cluster: config.cluster, incarnation: daemon.incarnation });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'leaving the cluster');
    void daemon.leave().then(() => {
      logger.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
