// The admin port's live page (daemon/status-page.ts, fed by GET /events) in real
// headless Chromium, against three real chorusd processes and two client applications
// (real processes using the SDK). The page of daemon `a` stays open, never reloaded,
// while a client application is SIGKILLed and then daemon `c` is: each change shows in
// its timeline with its cause (`crash`) within a second of the daemon installing it, the
// daemon view's members and the groups follow, and the daemon change shows its detection
// and flush times.
//
// Skipped, with the reason printed, when no Chromium is found (test/browser/chromium.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startCluster, waitFor, type DaemonProcess } from '../multi/harness.js';
import { findChromium } from './chromium.js';

const SDK = fileURLToPath(new URL('../../dist/client-sdk/index.js', import.meta.url));
const FAST = ['--heartbeat-ms', '100', '--suspect-ms', '800'];

const browserLookup = findChromium();
if (browserLookup.path === undefined) {
  console.warn(`[test/browser/live-page.test.ts] skipped: ${browserLookup.why}`);
}

/** A client application in its own process: joins `group` on `url`, prints its id, and idles. */
function startApp(url: string, name: string, group: string): Promise<{ proc: ChildProcess; id: string }> {
  const script = `
    const { connect } = await import(${JSON.stringify(SDK)});
    const client = await connect({ url: ${JSON.stringify(url)}, name: ${JSON.stringify(name)} });
    await client.join(${JSON.stringify(group)});
    console.log('joined ' + client.id);
    setInterval(() => {}, 1000);
  `;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /joined (\S+)/.exec(out);
      if (m) resolve({ proc, id: m[1]! });
    });
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    proc.on('exit', (code) => reject(new Error(`app ${name} exited (${code}): ${out}`)));
  });
}

interface ShownEntry {
  kind: string;
  text: string;
  causes: string[];
  who: string[];
  /** When the page showed it, and when the daemon recorded it (ms since the epoch). */
  shownAt: number;
  at: number;
}

describe.skipIf(browserLookup.path === undefined)('the live page of the admin port, in headless Chromium', () => {
  let daemons: DaemonProcess[] = [];
  const apps: ChildProcess[] = [];
  let browser: Browser | undefined;
  let page: Page;
  const errors: string[] = [];

  /** Timeline entries the page shows, with when it showed them (recorded by a MutationObserver). */
  const shown = (): Promise<ShownEntry[]> =>
    page.evaluate(() => (window as unknown as { __shown: ShownEntry[] }).__shown);

  async function entryShown(what: string, match: (e: ShownEntry) => boolean): Promise<ShownEntry> {
    let found: ShownEntry | undefined;
    await waitFor(`the page to show ${what}`, async () => {
      found = (await shown()).find(match);
      return found !== undefined;
    }, 15_000);
    return found!;
  }

  beforeAll(async () => {
    daemons = await startCluster(['a', 'b', 'c'], { args: FAST });
    browser = await chromium.launch({ executablePath: browserLookup.path!, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
    });
    // Records when each timeline entry appears, with the daemon's time for it (from /events).
    await page.addInitScript(() => {
      const w = window as unknown as { __shown: unknown[]; __at: Map<number, number> };
      w.__shown = [];
      w.__at = new Map();
      const Original = window.EventSource;
      window.EventSource = class extends Original {
        constructor(url: string | URL, init?: EventSourceInit) {
          super(url, init);
          this.addEventListener('timeline', (m) => {
            const e = JSON.parse((m as MessageEvent<string>).data) as { seq: number; at: number };
            w.__at.set(e.seq, e.at);
          });
        }
      };
      new MutationObserver((records) => {
        for (const r of records) {
          for (const n of r.addedNodes) {
            if (!(n instanceof HTMLElement) || n.tagName !== 'LI') continue;
            const seq = Number(n.dataset.seq);
            w.__shown.push({
              kind: n.dataset.kind,
              text: n.textContent,
              causes: [...n.querySelectorAll('[data-cause]')].map((x) => (x as HTMLElement).dataset.cause),
              who: [...n.querySelectorAll('[data-who]')].map((x) => (x as HTMLElement).dataset.who),
              shownAt: Date.now(),
              at: w.__at.get(seq) ?? 0,
            });
          }
        }
      }).observe(document, { childList: true, subtree: true });
    });
  });

  afterAll(async () => {
    await browser?.close().catch(() => {});
    for (const p of apps) p.kill('SIGKILL');
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
    if (errors.length > 0) console.warn(`browser errors:\n${errors.join('\n')}`);
  });

  it('shows the daemon view, links and groups, then a client crash and a daemon crash with their causes, live', async () => {
    const [a, b, c] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess];
    const appA = await startApp(a.url, 'app-a', 'orders');
    apps.push(appA.proc);
    const appB = await startApp(b.url, 'app-b', 'orders');
    apps.push(appB.proc);

    await page.goto(`http://${a.admin}/`);
    await page.evaluate(() => ((window as unknown as { __loaded: number }).__loaded = 1));
    await page.locator('#mode[data-mode="normal"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#title').textContent()).toBe('chorusd a');
    await waitFor('three members on the page', async () => (await page.locator('#members tr[data-member]').count()) === 3, 10_000);
    expect(await page.locator('#links tr[data-peer]').count()).toBe(2);
    await page.locator('#groups tr[data-group="orders"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#groups tr[data-group="orders"] .pill').allTextContents()).toEqual(expect.arrayContaining([appA.id, appB.id]));
    // The view changes so far came with the first status (the history of this run).
    expect((await shown()).some((e) => e.kind === 'group-view' && e.who.includes(appB.id) && e.causes.includes('join'))).toBe(true);

    // A client application dies: the group view without it, cause crash.
    appB.proc.kill('SIGKILL');
    const clientCrash = await entryShown(`${appB.id} leaving orders (crash)`, (e) => e.kind === 'group-view' && e.who.includes(appB.id) && e.causes.includes('crash'));
    expect(clientCrash.shownAt - clientCrash.at).toBeLessThan(1_000);
    await waitFor('the groups table without the dead client', async () => !(await page.locator('#groups tr[data-group="orders"]').textContent())!.includes(appB.id), 5_000);

    // A daemon dies: the daemon view without it, cause crash, with detection and flush times.
    await c.stop('SIGKILL');
    const daemonCrash = await entryShown('daemon c leaving (crash)', (e) => e.kind === 'daemon-view' && e.who.some((w) => w.startsWith('c#')) && e.causes.includes('crash'));
    expect(daemonCrash.shownAt - daemonCrash.at).toBeLessThan(1_000);
    expect(daemonCrash.text).toMatch(/detection \d/);
    expect(daemonCrash.text).toMatch(/flush \d/);
    await waitFor('two members on the page', async () => (await page.locator('#members tr[data-member]').count()) === 2, 5_000);
    expect(await page.locator('#members tr[data-member="c"]').count()).toBe(0);

    // Never reloaded: the marker set after the first load is still there.
    expect(await page.evaluate(() => (window as unknown as { __loaded?: number }).__loaded)).toBe(1);
    expect(errors).toEqual([]);
  }, 90_000);
});
