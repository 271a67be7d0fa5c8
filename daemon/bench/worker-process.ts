// The process plumbing every bench worker shares (client-worker.ts, state-worker.ts):
// replies over IPC, refusing to run outside the harness, ignoring Ctrl-C (the
// orchestrator decides when to stop), and, when the orchestrator is gone (even
// SIGKILLed), taking the worker's daemon down with it before exiting.
export interface WorkerProcess<Cmd> {
  /** `worker` names the script in the refusal message. */
  readonly worker: string;
  readonly handle: (cmd: Cmd) => Promise<void>;
  /** On orchestrator loss: close the SDK client, and the daemon pid to SIGTERM (0: none). */
  readonly onOrphaned: () => { close(): Promise<void> | void; daemonPid: number; delayMs: number };
}

/** Sends `msg` to the orchestrator while the IPC channel is up. */
export function sendToOrchestrator(msg: unknown): void {
  if (process.connected) process.send!(msg);
}

export function runWorkerProcess<Cmd>(w: WorkerProcess<Cmd>): void {
  if (!process.send) {
    process.stderr.write(`${w.worker}: run by the bench harness (chorus bench) only\n`);
    process.exit(2);
  }
  process.on('message', (cmd: Cmd) => void w.handle(cmd));
  // Ctrl-C reaches the whole process group: the orchestrator decides when we stop.
  process.on('SIGINT', () => undefined);
  process.on('disconnect', () => {
    const { close, daemonPid, delayMs } = w.onOrphaned();
    void Promise.resolve()
      .then(close)
      .catch(() => undefined);
    setTimeout(() => {
      if (daemonPid > 0) {
        try {
          process.kill(daemonPid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      process.exit(0);
    }, delayMs);
  });
}
