// Finding a Chromium for the browser tests, without downloading one: playwright-core
// drives the system's browser (Debian: `apt-get install chromium`). No browser, no test:
// the browser tests skip with the reason this returns.
//
// Order: CHORUS_NO_BROWSER=1 (no browser, whatever is installed: for checking the skip),
// then CHROMIUM_PATH (used as given; a path that is not an executable file means none),
// then the usual places of Chromium and Chrome on Linux and macOS.
import { accessSync, constants, statSync } from 'node:fs';

export const COMMON_CHROMIUM_PATHS: readonly string[] = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/lib/chromium/chromium',
  '/snap/bin/chromium',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/opt/google/chrome/chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

export type ChromiumLookup = { path: string; why?: undefined } | { path?: undefined; why: string };

function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findChromium(env: NodeJS.ProcessEnv = process.env, candidates: readonly string[] = COMMON_CHROMIUM_PATHS): ChromiumLookup {
  if (env.CHORUS_NO_BROWSER === '1') return { why: 'CHORUS_NO_BROWSER=1 is set' };
  const given = env.CHROMIUM_PATH;
  if (given !== undefined && given !== '') {
    return executable(given) ? { path: given } : { why: `CHROMIUM_PATH=${given} is not an executable file` };
  }
  const found = candidates.find(executable);
  if (found !== undefined) return { path: found };
  return {
    why: `no Chromium found (looked in ${candidates.join(', ')}); install one (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM_PATH`,
  };
}
