import { Counter, type Metric, type Registry } from 'prom-client';

/**
 * Metrics on a hot path (the resolver's answers; docs/benchmarks.md, "The hit path's budget"). A
 * prom-client call with labels validates and hashes them every time: the five an answer made were
 * about 1.3 µs in a loop, more in the server, of an answer's 20 µs of CPU. Here a label set is found
 * with one string key (or held by the caller as a slot) and counted in plain numbers; prom-client
 * formats them when the registry is scraped. What a scrape shows is what prom-client's own metric
 * would show for the same calls (hot-metrics.spec.ts compares the two).
 */

type Labels<L extends string> = Partial<Record<L, string | number>>;

/** A value as prom-client's registry formats it (what its Histogram.get() gives). */
interface ScrapedValue {
  labels: Record<string, string | number>;
  /** The metric's own labels, formatted after `labels` and the registry's default labels. */
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
}

interface ScrapedMetric {
  name: string;
  help: string;
  type: 'histogram';
  values: ScrapedValue[];
  aggregator: 'sum';
}

interface HotOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers: Registry[];
}

/** The key of a label set: its values in the metric's label order. */
function keyOf<L extends string>(labelNames: readonly L[], labels: Labels<L> | undefined): string {
  if (labelNames.length === 0 || labels === undefined) return '';
  if (labelNames.length === 1) return String(labels[labelNames[0] as L] ?? '');
  let key = '';
  for (const name of labelNames) key += `${String(labels[name] ?? '')}\u0000`;
  return key;
}

/** Only the metric's own labels, as strings (prom-client refuses others; these are our own call sites). */
function ownLabels<L extends string>(labelNames: readonly L[], labels: Labels<L> | undefined): Record<string, string> {
  const own: Record<string, string> = {};
  if (labels === undefined) return own;
  for (const name of labelNames) {
    const value = labels[name];
    if (value !== undefined) own[name] = String(value);
  }
  return own;
}

/** One label set of a HotCounter: its increments until the next scrape. */
export class CounterSlot {
  pending = 0;
  constructor(readonly labels: Record<string, string>) {}

  inc(by = 1): void {
    this.pending += by;
  }
}

/** A counter whose increments are held in plain numbers and handed to prom-client's Counter at each scrape. */
export class HotCounter<L extends string = string> {
  private readonly slots = new Map<string, CounterSlot>();
  private readonly labelNames: readonly L[];

  constructor(options: HotOptions<L>) {
    this.labelNames = options.labelNames ?? [];
    const slots = this.slots;
    new Counter({
      name: options.name,
      help: options.help,
      labelNames: this.labelNames,
      registers: options.registers,
      collect() {
        for (const slot of slots.values()) {
          if (slot.pending === 0) continue;
          this.inc(slot.labels as Partial<Record<L, string>>, slot.pending);
          slot.pending = 0;
        }
      },
    });
  }

  /** The slot of a label set, for a caller that counts it often. */
  slot(labels?: Labels<L>): CounterSlot {
    const key = keyOf(this.labelNames, labels);
    let slot = this.slots.get(key);
    if (slot === undefined) this.slots.set(key, (slot = new CounterSlot(ownLabels(this.labelNames, labels))));
    return slot;
  }

  /** As prom-client's `inc(labels, value)` (or `inc(value)` without labels). */
  inc(labels?: Labels<L> | number, by = 1): void {
    if (typeof labels === 'number') this.slot(undefined).inc(labels);
    else this.slot(labels).inc(by);
  }
}

/** One label set of a HotHistogram. */
export class HistogramSlot {
  /** Observations per bucket (not cumulative); the last is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

/** A histogram counted in plain numbers, shown at the scrape as prom-client's Histogram shows one. */
export class HotHistogram<L extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly slots = new Map<string, HistogramSlot>();
  private readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];

  constructor(options: HotOptions<L> & { buckets: readonly number[] }) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The slot of a label set, for a caller that observes it often. */
  slot(labels?: Labels<L>): HistogramSlot {
    const key = keyOf(this.labelNames, labels);
    let slot = this.slots.get(key);
    if (slot === undefined) this.slots.set(key, (slot = new HistogramSlot(ownLabels(this.labelNames, labels), this.bounds)));
    return slot;
  }

  /** As prom-client's `observe(labels, value)`. */
  observe(labels: Labels<L>, value: number): void {
    this.slot(labels).observe(value);
  }

  /** What the registry formats for the text exposition (prom-client's Histogram.getForPromString() shape). */
  getForPromString(): Promise<ScrapedMetric> {
    const values: ScrapedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const slot of this.slots.values()) {
      const sharedLabels = slot.labels;
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += slot.counts[i] ?? 0;
        values.push({ labels: { le: this.bounds[i] as number }, sharedLabels, value: cumulative, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels, value: slot.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels, value: slot.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels, value: slot.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** The same as objects (prom-client's Histogram.get() shape: the label set and `le` in one). */
  async get(): Promise<ScrapedMetric> {
    const metric = await this.getForPromString();
    metric.values = metric.values.map(({ labels, sharedLabels, value, metricName }) => ({ labels: { ...sharedLabels, ...labels }, value, metricName }));
    return metric;
  }

  reset(): void {
    this.slots.clear();
  }
}
