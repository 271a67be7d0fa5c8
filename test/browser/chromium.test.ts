// How the browser tests find Chromium (test/browser/chromium.ts): they skip, never fail,
// when there is none, and CHORUS_NO_BROWSER / CHROMIUM_PATH decide before the usual paths.
import { describe, expect, it } from 'vitest';

import { findChromium } from './chromium.js';

const NODE = process.execPath; // an executable file that exists everywhere the tests run

describe('findChromium', () => {
  it('takes the first executable of the usual paths', () => {
    expect(findChromium({}, ['/nonexistent/chromium', NODE])).toEqual({ path: NODE });
  });

  it('CHROMIUM_PATH wins over the usual paths, and one that is no executable means no browser', () => {
    expect(findChromium({ CHROMIUM_PATH: NODE }, ['/nonexistent/chromium'])).toEqual({ path: NODE });
    expect(findChromium({ CHROMIUM_PATH: '/nonexistent/chromium' }, [NODE]).why).toMatch(/CHROMIUM_PATH=\/nonexistent\/chromium is not an executable/);
  });

  it('CHORUS_NO_BROWSER=1 means no browser whatever is installed', () => {
    expect(findChromium({ CHORUS_NO_BROWSER: '1', CHROMIUM_PATH: NODE }, [NODE]).why).toMatch(/CHORUS_NO_BROWSER/);
  });

  it('with none found, the reason says how to install one', () => {
    expect(findChromium({}, ['/nonexistent/chromium']).why).toMatch(/apt-get install chromium/);
  });
});
