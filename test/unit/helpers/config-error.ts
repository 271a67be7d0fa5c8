// The ConfigError a bad configuration raises, checked to carry ERR_CONFIG (config.test.ts and config-client-buffer.test.ts each had this).
import { expect } from 'vitest';

import { ConfigError } from '../../../src/errors.js';

/** The ConfigError (code ERR_CONFIG) `fn` throws; fails the test if it throws nothing. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('ERR_CONFIG');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}
