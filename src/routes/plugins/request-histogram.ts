/**
 * `vsmmu_http_request_duration_seconds` as a metric of its own in prom-client's registry: a
 * Prometheus histogram kept per series (method, route pattern, status) in plain arrays, exposed
 * exactly as prom-client's `Histogram` exposes it (test/routes/request-histogram.test.ts compares
 * the two, text and JSON). prom-client's `observe` checks every label name, hashes the labels
 * object and looks the series up by that hash on every call: replacing it saved ~4 µs of CPU of
 * a GET served in ~50 µs (bench/RESULTS.md, read_vs_bare). Here an observation is a Map lookup by a string key and a
 * bucket count; the labels are only turned into the exposition's shape when scraped.
 */
interface HistogramValue {
  labels: { le?: number | string };
  sharedLabels: Series['labels'];
  value: number;
  metricName: string;
  /** prom-client's buckets carry `exemplar: null` (no exemplars kept), its sum and count none. */
  exemplar?: null;
}

interface Series {
  labels: { method: string; route: string; status: string };
  /** Observations per bucket (not cumulative), the last one for +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = ['method', 'route', 'status'];
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: { method, route, status: String(status) }, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.buckets.length && seconds > this.buckets[i]) i++;
    s.counts[i]++;
    s.sum += seconds;
    s.count++;
  }

  /**
   * What the registry's text exposition reads: prom-client's Histogram's values in its order and
   * shape (`le` as the value's own label, the series' labels shared; `getForPromString`).
   */
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: HistogramValue[]; aggregator: 'sum' }> {
    const values: HistogramValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i];
        values.push({ labels: { le: this.buckets[i] }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' });
  }

  /** The JSON form (`register.getMetricsAsJSON()`): each value's labels with the series' spread in, as prom-client's `get`. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: Array<Omit<HistogramValue, 'labels' | 'sharedLabels'> & { labels: Record<string, string | number> }>; aggregator: 'sum' }> {
    const data = await this.getForPromString();
    const values = data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return { ...data, values };
  }

  reset(): void {
    this.series.clear();
  }
}
