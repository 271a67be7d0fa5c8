// A tiny Prometheus registry: counters and gauges with labels, rendered in the text
// exposition format 0.0.4 for `GET /metrics`. No dependency; enough for a daemon that
// owns all its metrics (no histograms: latency is measured by the benchmark harness).
//
// Label sets are bounded by the caller: never label by message id or client-supplied
// strings without a limit, or the registry grows without bound.

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type Labels = Readonly<Record<string, string | number>>;

export interface MetricOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
}

type MetricType = 'counter' | 'gauge';

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly type: MetricType;
  // key = rendered label set `{a="1",b="2"}` ('' without labels) → value
  protected readonly values = new Map<string, number>();

  constructor(options: MetricOptions) {
    if (!METRIC_NAME.test(options.name)) throw new Error(`invalid metric name "${options.name}"`);
    for (const label of options.labelNames ?? []) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) {
        throw new Error(`metric ${options.name}: invalid label name "${label}"`);
      }
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
  }

  protected key(labels: Labels | undefined): string {
    const given = labels ?? {};
    for (const name of Object.keys(given)) {
      if (!this.labelNames.includes(name)) throw new Error(`metric ${this.name}: unknown label "${name}"`);
    }
    if (this.labelNames.length === 0) return '';
    const parts = this.labelNames.map((name) => {
      const value = given[name];
      if (value === undefined) throw new Error(`metric ${this.name}: missing label "${name}"`);
      return `${name}="${escapeLabelValue(String(value))}"`;
    });
    return `{${parts.join(',')}}`;
  }

  /** The current value for `labels` (0 if never set). */
  get(labels?: Labels): number {
    return this.values.get(this.key(labels)) ?? 0;
  }

  /** Forgets one label set (e.g. a group that no longer exists). */
  remove(labels: Labels): void {
    this.values.delete(this.key(labels));
  }

  /** Forgets every label set. */
  reset(): void {
    this.values.clear();
  }

  render(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const [key, value] of this.values) out += `${this.name}${key} ${formatValue(value)}\n`;
    return out;
  }
}

export class Counter extends Metric {
  readonly type = 'counter' as const;

  /** Adds `by` (default 1, must be ≥ 0: counters only go up). */
  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new Error(`counter ${this.name}: cannot increase by ${by}`);
    const key = this.key(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge' as const;

  set(value: number, labels?: Labels): void {
    this.values.set(this.key(labels), value);
  }

  inc(labels?: Labels, by = 1): void {
    const key = this.key(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  dec(labels?: Labels, by = 1): void {
    this.inc(labels, -by);
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();
  private readonly collectors: (() => void)[] = [];

  counter(options: MetricOptions): Counter {
    return this.register(new Counter(options));
  }

  gauge(options: MetricOptions): Gauge {
    return this.register(new Gauge(options));
  }

  /** Runs `collect` before each render, e.g. to set gauges from current state. */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }

  /** All metrics in the Prometheus text format 0.0.4 (content type `CONTENT_TYPE`). */
  render(): string {
    for (const collect of this.collectors) collect();
    let out = '';
    for (const metric of this.metrics.values()) out += metric.render();
    return out;
  }

  private register<M extends Metric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} is already registered`);
    this.metrics.set(metric.name, metric);
    return metric;
  }
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
