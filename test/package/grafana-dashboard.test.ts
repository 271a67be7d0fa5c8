// deploy/grafana/chorus-dashboard.json (issue 14, item 2): the Grafana dashboard is read
// and checked panel by panel (title, a description saying what a bad value means, the
// `${datasource}` variable, at least one query), and every metric its queries name is
// looked up in the /metrics of a real chorusd: renaming a metric, or dropping a family,
// fails here instead of leaving an empty panel in someone's incident.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startChorusd, type DaemonProcess } from '../multi/harness.js';

const file = fileURLToPath(new URL('../../deploy/grafana/chorus-dashboard.json', import.meta.url));
const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos?: { h: number; w: number; x: number; y: number };
}
interface Dashboard {
  schemaVersion: number;
  uid?: string;
  title?: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown; definition?: string; datasource?: { uid?: string } }> };
  annotations?: { list: Array<{ expr?: string; datasource?: { uid?: string } }> };
}

const dashboard = JSON.parse(readFileSync(file, 'utf8')) as Dashboard;

/** Every panel, rows' nested panels (collapsed rows hold theirs) included. */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}
const panels = allPanels(dashboard.panels);
const rows = panels.filter((p) => p.type === 'row');
const dataPanels = panels.filter((p) => p.type !== 'row');

/** Every query of the dashboard: panels' targets and annotations. */
const exprs: Array<{ where: string; expr: string }> = [
  ...dataPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${p.title} (${t.refId})`, expr: t.expr ?? '' }))),
  ...(dashboard.annotations?.list ?? []).filter((a) => a.expr !== undefined).map((a) => ({ where: 'annotation', expr: a.expr! })),
];

const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

/**
 * The metric names an expression uses: identifiers starting with chorus_, process_ or
 * nodejs_ outside string literals (label values such as "$instance"), with a histogram
 * series' _bucket/_sum/_count suffix kept (resolved against the exposition below).
 */
function metricNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const names = new Set<string>();
  for (const m of code.matchAll(/[a-z_:][a-z0-9_:]*/gi)) {
    // A name, not the tail of a longer identifier or a number (`5m`, `0.99`).
    const before = code[m.index - 1];
    if (before !== undefined && /[A-Za-z0-9_:.$]/.test(before)) continue;
    if (/^(chorus|process|nodejs)_/.test(m[0])) names.add(m[0]);
  }
  return [...names];
}

/** `# TYPE name type` of an exposition, by name. */
function families(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) types.set(m[1]!, m[2]!);
  }
  return types;
}

describe('the metric-name extraction', () => {
  it('finds metric names, drops label values, functions, durations and variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(chorus_view_change_flush_seconds_bucket{instance=~"$instance", mode="chorus_mode"}[5m])))',
      ),
    ).toEqual(['chorus_view_change_flush_seconds_bucket']);
    expect(metricNames('sum by (instance) (rate(process_cpu_seconds_total{instance=~"$instance"}[$__rate_interval])) / nodejs_heap_size_used_bytes')).toEqual([
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]);
  });
});

describe('deploy/grafana/chorus-dashboard.json', () => {
  it('is a dashboard with a Prometheus datasource variable and an instance variable from chorus_build_info', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBeTruthy();
    expect(dashboard.title).toBeTruthy();
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(ds?.type).toBe('datasource');
    expect(ds?.query).toBe('prometheus');
    const instance = dashboard.templating.list.find((v) => v.name === 'instance');
    expect(instance?.type).toBe('query');
    expect(instance?.datasource?.uid).toBe('${datasource}');
    expect(instance?.definition).toBe('label_values(chorus_build_info, instance)');
    expect(JSON.stringify(instance?.query)).toContain('label_values(chorus_build_info, instance)');
    for (const a of dashboard.annotations?.list ?? []) if (a.expr !== undefined) expect(a.datasource?.uid).toBe('${datasource}');
  });

  it('is organised around the incident questions', () => {
    expect(rows.map((r) => r.title)).toEqual([
      'Is the cluster whole?',
      'How long did view changes take?',
      'Is traffic flowing?',
      'Are links healthy?',
      'State transfers',
      'Process',
    ]);
  });

  it('gives every panel a title, a description, the ${datasource} variable and a query on it', () => {
    expect(dataPanels.length).toBeGreaterThan(20);
    const ids = new Set<number>();
    for (const p of panels) {
      expect(p.title, JSON.stringify(p).slice(0, 200)).toBeTruthy();
      expect(p.id, p.title).toBeTypeOf('number');
      expect(ids.has(p.id!), `duplicate panel id ${p.id}`).toBe(false);
      ids.add(p.id!);
      expect(p.gridPos, p.title).toBeDefined();
    }
    for (const p of dataPanels) {
      expect(p.description?.length ?? 0, `${p.title}: a description`).toBeGreaterThan(40);
      expect(p.description, `${p.title}: what a bad value means`).toMatch(/\bbad\b/i);
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.datasource?.type, p.title).toBe('prometheus');
      expect(p.targets?.length ?? 0, `${p.title}: a target`).toBeGreaterThanOrEqual(1);
      for (const t of p.targets ?? []) {
        expect(t.expr?.trim(), `${p.title} (${t.refId}): an expr`).toBeTruthy();
        expect(t.datasource?.uid ?? '${datasource}', `${p.title} (${t.refId})`).toBe('${datasource}');
        expect(metricNames(t.expr ?? '').length, `${p.title} (${t.refId}) names a chorusd metric`).toBeGreaterThan(0);
        expect(t.expr, `${p.title} (${t.refId}) filters on $instance`).toContain('instance=~"$instance"');
      }
    }
  });

  it('lays panels out without overlap on the 24-column grid', () => {
    const cells = new Map<string, string>();
    for (const p of panels) {
      const g = p.gridPos!;
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
      for (let y = g.y; y < g.y + g.h; y++)
        for (let x = g.x; x < g.x + g.w; x++) {
          const other = cells.get(`${x},${y}`);
          expect(other, `${p.title} overlaps ${other}`).toBeUndefined();
          cells.set(`${x},${y}`, p.title!);
        }
    }
  });

  describe('against a real chorusd', () => {
    let daemon: DaemonProcess;
    let exposition: Map<string, string>;

    beforeAll(async () => {
      daemon = await startChorusd('grafana');
      const res = await fetch(`http://${daemon.admin}/metrics`);
      expect(res.status).toBe(200);
      exposition = families(await res.text());
    });
    afterAll(async () => {
      await daemon?.stop('SIGKILL');
    });

    it('exposes every metric the dashboard queries (histograms as histograms)', () => {
      const used = new Map<string, string[]>();
      for (const { where, expr } of exprs) for (const n of metricNames(expr)) used.set(n, [...(used.get(n) ?? []), where]);
      expect(used.size).toBeGreaterThan(30);
      const problems: string[] = [];
      for (const [name, where] of used) {
        const at = `(in ${where.join(', ')})`;
        const type = exposition.get(name);
        // A histogram's series are queried by their _bucket, _sum and _count names only.
        if (type === 'histogram') problems.push(`${name} ${at} is a histogram: query ${name}_bucket, _sum or _count`);
        if (type !== undefined) continue;
        const base = name.replace(HISTOGRAM_SUFFIX, '');
        if (base === name) problems.push(`${name} ${at}: not exposed`);
        else if (exposition.get(base) !== 'histogram') problems.push(`${name} ${at}: no "# TYPE ${base} histogram"`);
      }
      expect(problems, 'metrics the dashboard queries but chorusd does not expose so').toEqual([]);
    });

    it("is what the README's Metrics section lists, name for name", () => {
      const start = readme.indexOf('\n### Metrics\n');
      expect(start, 'README.md has a "### Metrics" section').toBeGreaterThan(0);
      const section = readme.slice(start, readme.indexOf('\n## ', start));
      expect(section).toContain('curl http://127.0.0.1:7600/metrics');
      expect(section).toContain('deploy/grafana/chorus-dashboard.json');
      const listed = new Set([...section.matchAll(/`((?:chorus|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(HISTOGRAM_SUFFIX, '')));
      const chorus = [...exposition.keys()].filter((n) => n.startsWith('chorus_'));
      expect(chorus.filter((n) => !listed.has(n)), 'chorus_ families the README does not list').toEqual([]);
      expect([...listed].filter((n) => !exposition.has(n)), 'names the README lists that chorusd does not expose').toEqual([]);
    });

    it('has a panel for every chorus_ family chorusd exposes', () => {
      const used = new Set(exprs.flatMap(({ expr }) => metricNames(expr).map((n) => n.replace(HISTOGRAM_SUFFIX, ''))));
      const chorus = [...exposition.keys()].filter((n) => n.startsWith('chorus_'));
      expect(chorus.filter((n) => !used.has(n)), 'chorus_ families with no panel (add one, and a line in the README)').toEqual([]);
    });
  });
});
