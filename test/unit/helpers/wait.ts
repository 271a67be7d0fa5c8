// Polling waits for the unit tests that drive real sockets or fake daemons: one copy here instead of one in each test file.

/** Resolves once `predicate()` holds, checking every `pollMs`; rejects after `timeoutMs`. */
export function until(predicate: () => boolean, timeoutMs = 5_000, pollMs = 5): Promise<void> {
  return poll(predicate, timeoutMs, pollMs, () => new Error('condition not met in time'));
}

/** `until` with a longer default timeout (and another poll interval), for files whose waits cross large transfers. */
export function untilWithin(defaultTimeoutMs: number, pollMs = 5): (predicate: () => boolean, timeoutMs?: number) => Promise<void> {
  return (predicate, timeoutMs = defaultTimeoutMs) => until(predicate, timeoutMs, pollMs);
}

/** A wait `(condition, what)` that names what it waited for when it gives up after `timeoutMs`. */
export function waitsFor(timeoutMs: number): (condition: () => boolean, what: string) => Promise<void> {
  return (condition, what) => poll(condition, timeoutMs, 5, () => new Error(`timed out waiting for ${what}`));
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function poll(predicate: () => boolean, timeoutMs: number, pollMs: number, timedOut: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = (): void => {
      try {
        if (predicate()) resolve();
        else if (Date.now() - started > timeoutMs) reject(timedOut());
        else setTimeout(check, pollMs);
      } catch (err) {
        reject(err); // a predicate that throws fails the wait, not the process
      }
    };
    check();
  });
}
