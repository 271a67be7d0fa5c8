// examples/board in real headless Chromium (playwright-core driving the system's browser)
// against two real chorusd processes that serve the page and the SDK bundle themselves
// (--serve-dir). Daemon `a` founds the cluster, `b` joins it; pages p1 and p3 load from
// `a`, p2 from `b`, and p4 from `a` later on.
//
//   - strokes drawn with the mouse on every page are `total` multicasts: all pages end
//     with the same drawing (same stroke count and digest);
//   - p4, opened after the drawing exists, installs it by state transfer;
//   - p3 closed: the other pages log it as `leave`;
//   - `b` SIGKILLed: p1 and p4 log p2 as `crash`. (`b` is the one killed because `a`,
//     the oldest daemon, is exactly half of the last primary view including its oldest
//     member, so it stays primary alone; `b` alone would not.)
//
// Skipped, with the reason printed, when no Chromium is found (test/browser/chromium.ts:
// CHORUS_NO_BROWSER=1, CHROMIUM_PATH, the usual install paths). Needs `npm run build`
// (dist/daemon and dist/browser/chorus-client.js), which `npm test` runs first.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startChorusd, waitFor, type DaemonProcess } from '../multi/harness.js';
import { findChromium } from './chromium.js';

const BOARD_DIR = fileURLToPath(new URL('../../examples/board', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../dist/browser/chorus-client.js', import.meta.url));
const FAST = ['--heartbeat-ms', '100', '--suspect-ms', '800'];

const browserLookup = findChromium();
if (browserLookup.path === undefined) {
  console.warn(`[test/browser/board.test.ts] skipped: ${browserLookup.why}`);
}

interface BoardState {
  id: string;
  member: boolean;
  strokes: number;
  digest: string;
  installedStrokes: number | null;
  view: { id: number; members: string[] } | undefined;
  events: Array<{ viewId: number; member: string; cause: string }>;
}

interface BoardPage {
  readonly page: Page;
  readonly name: string;
  readonly errors: string[];
  id: string;
}

describe.skipIf(browserLookup.path === undefined)('examples/board in headless Chromium on two daemons', () => {
  const daemons: DaemonProcess[] = [];
  let browser: Browser | undefined;
  let a: DaemonProcess;
  let b: DaemonProcess;
  const pages: Record<string, BoardPage> = {};

  const state = (p: BoardPage): Promise<BoardState> => p.page.evaluate(() => (window as unknown as { board: { state(): BoardState } }).board.state());

  async function openBoard(name: string, daemon: DaemonProcess): Promise<BoardPage> {
    // A context (a window) per page, as separate tabs of separate people: pages that
    // share a window are background tabs, whose input and timers Chromium slows down.
    const context = await browser!.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
    });
    await page.goto(`http://${daemon.client}/?name=${name}`);
    try {
      await page.evaluate(() => (window as unknown as { board: { ready: Promise<void> } }).board.ready);
    } catch (err) {
      throw new Error(`${name} did not join: ${String(err)}\n${errors.join('\n')}`);
    }
    const p: BoardPage = { page, name, errors, id: '' };
    p.id = (await state(p)).id;
    pages[name] = p;
    return p;
  }

  /** One stroke with the real mouse: down at (x, y), a zigzag, up. */
  async function drawStroke(p: BoardPage, x: number, y: number): Promise<void> {
    const box = await p.page.locator('#pen').boundingBox();
    if (!box) throw new Error(`${p.name}: no canvas`);
    const at = (dx: number, dy: number) => [box.x + ((x + dx) / 800) * box.width, box.y + ((y + dy) / 500) * box.height] as const;
    await p.page.mouse.move(...at(0, 0));
    await p.page.mouse.down();
    for (let i = 1; i <= 8; i++) await p.page.mouse.move(...at(i * 12, i % 2 === 0 ? 0 : 25), { steps: 2 });
    await p.page.mouse.up();
  }

  /** Every page in `names` holds `strokes` strokes with one digest; returns it. */
  async function sameDrawing(names: readonly string[], strokes: number): Promise<string> {
    let last: BoardState[] = [];
    try {
      await waitFor(`${names.join(', ')} to hold the same ${strokes} strokes`, async () => {
        last = await Promise.all(names.map((n) => state(pages[n]!)));
        return last.every((s) => s.strokes === strokes && s.digest === last[0]!.digest);
      }, 10_000);
    } catch (err) {
      throw new Error(`${String(err)}: ${JSON.stringify(last.map((s) => ({ id: s.id, strokes: s.strokes, digest: s.digest })))}`);
    }
    return last[0]!.digest;
  }

  /** The page's log shows `member` leaving with `cause` (as a person would read it). */
  async function logsCause(p: BoardPage, member: string, cause: string): Promise<void> {
    const entry = p.page.locator(`#log li[data-member="${member}"][data-cause="${cause}"]`);
    await entry.waitFor({ timeout: 10_000 });
    expect(await entry.textContent()).toContain(`${member} left: ${cause}`);
  }

  beforeAll(async () => {
    if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build`);
    a = await startChorusd('a', { args: [...FAST, '--serve-dir', BOARD_DIR] });
    daemons.push(a);
    b = await startChorusd('b', { args: [...FAST, '--serve-dir', BOARD_DIR], seeds: [a.listen] });
    daemons.push(b);
    await waitFor('a daemon view of a and b', async () => (await Promise.all(daemons.map((d) => d.status()))).every((s) => s.daemonView.members.length === 2));
    browser = await chromium.launch({
      executablePath: browserLookup.path!,
      headless: true,
      // As root (CI, containers) Chromium refuses to start with its sandbox.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
  });

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
    const errors = Object.values(pages).flatMap((p) => p.errors.map((e) => `${p.name}: ${e}`));
    if (errors.length > 0) console.warn(`browser errors:\n${errors.join('\n')}`);
  });

  it('serves the page and the SDK bundle from the daemon', async () => {
    const page = await fetch(`http://${a.client}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const bundle = await fetch(`http://${b.client}/chorus.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await bundle.text()).toContain('connect');
  });

  it('three pages on two daemons draw, and all three end with the same drawing', async () => {
    await openBoard('p1', a);
    await openBoard('p2', b);
    await openBoard('p3', a);
    const ids = ['p1', 'p2', 'p3'].map((n) => pages[n]!.id);
    await waitFor('every page to see the view of three', async () => {
      const st = await Promise.all(['p1', 'p2', 'p3'].map((n) => state(pages[n]!)));
      return st.every((s) => JSON.stringify(s.view?.members) === JSON.stringify(ids));
    });
    // Pages draw at the same time: the group's total order decides, the same everywhere.
    await Promise.all(['p1', 'p2', 'p3'].map(async (n, i) => {
      await drawStroke(pages[n]!, 50 + i * 200, 60);
      await drawStroke(pages[n]!, 50 + i * 200, 260);
    }));
    const digest = await sameDrawing(['p1', 'p2', 'p3'], 6);
    expect(digest).toMatch(/^[0-9a-f]{8}$/);
    // What a person sees says the same.
    for (const n of ['p1', 'p2', 'p3']) expect(await pages[n]!.page.locator('#digest').textContent()).toBe(`6 strokes, digest ${digest}`);
  });

  it('a page opened later gets the drawing by state transfer, then draws with the others', async () => {
    const before = await state(pages.p1!);
    const p4 = await openBoard('p4', a);
    const s4 = await state(p4);
    expect(s4.installedStrokes).toBe(6);
    expect(s4.digest).toBe(before.digest);
    await drawStroke(p4, 600, 400);
    await sameDrawing(['p1', 'p2', 'p3', 'p4'], 7);
  });

  it("a closed page shows as 'leave' in the other pages' view", async () => {
    const p3 = pages.p3!;
    await p3.page.close();
    for (const n of ['p1', 'p2', 'p4']) {
      await logsCause(pages[n]!, p3.id, 'leave');
      expect((await state(pages[n]!)).view?.members).not.toContain(p3.id);
    }
  });

  it("a SIGKILLed daemon shows its page's member as 'crash' in the surviving pages' view", async () => {
    const p2 = pages.p2!;
    b.proc.kill('SIGKILL');
    await b.exited;
    for (const n of ['p1', 'p4']) await logsCause(pages[n]!, p2.id, 'crash');
    await waitFor('p2 to show its daemon is gone', async () => (await p2.page.locator('#status').getAttribute('data-state')) === 'closed');
    // The survivors still draw together.
    await drawStroke(pages.p1!, 300, 420);
    await sameDrawing(['p1', 'p4'], 8);
    const members = (await state(pages.p1!)).view?.members;
    expect(members).toEqual([pages.p1!.id, pages.p4!.id]);
  });
});
