/**
 * src/routes/plugins/request-histogram.ts: the request-duration histogram kept outside
 * prom-client's Histogram is exposed exactly as prom-client's own would be — the same text and
 * the same JSON for the same observations, bucket edges and values past the last bucket included.
 */
import { Histogram, Registry, type Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { REQUEST_BUCKETS } from '../../src/routes/plugins/metrics.js';
import { RequestHistogram } from '../../src/routes/plugins/request-histogram.js';

const NAME = 'vsmmu_http_request_duration_seconds';
const HELP = 'HTTP request duration by method, route pattern and status';
const OBSERVATIONS: Array<[string, string, number, number]> = [
  ['GET', '/v1/viommus/:id', 200, 0.0004],
  ['GET', '/v1/viommus/:id', 200, 0.0005], // on a bucket's edge: counted in it
  ['GET', '/v1/viommus/:id', 200, 0.00051],
  ['GET', '/v1/viommus/:id', 404, 0.003],
  ['POST', '/v1/ioas', 201, 0.02],
  ['POST', '/v1/ioas', 201, 1],
  ['POST', '/v1/ioas', 201, 7.5], // past the last bucket: only +Inf
  ['GET', 'unmatched', 404, 0.0001],
  ['GET', '/v1/objects', 200, 0.25],
];

function both() {
  const theirs = new Registry();
  const reference = new Histogram({ name: NAME, help: HELP, labelNames: ['method', 'route', 'status'] as const, buckets: REQUEST_BUCKETS, registers: [theirs] });
  const ours = new Registry();
  const mine = new RequestHistogram(NAME, HELP, REQUEST_BUCKETS);
  ours.registerMetric(mine as unknown as Metric);
  for (const [method, route, status, seconds] of OBSERVATIONS) {
    reference.observe({ method, route, status: String(status) }, seconds);
    mine.observe(method, route, status, seconds);
  }
  return { theirs, ours, mine };
}

describe('request histogram', () => {
  it('request histogram: the text exposition is prom-client Histogram\'s, line for line', async () => {
    const { theirs, ours } = both();
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain(`${NAME}_bucket{le="0.0005",method="GET",route="/v1/viommus/:id",status="200"} 2`);
    expect(text).toContain(`${NAME}_bucket{le="+Inf",method="POST",route="/v1/ioas",status="201"} 3`);
    expect(text).toContain(`${NAME}_bucket{le="1",method="POST",route="/v1/ioas",status="201"} 2`);
  });

  it('request histogram: the JSON form is prom-client Histogram\'s', async () => {
    const { theirs, ours } = both();
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it('request histogram: reset empties every series', async () => {
    const { ours, mine } = both();
    mine.reset();
    expect(await ours.metrics()).toBe(`# HELP ${NAME} ${HELP}\n# TYPE ${NAME} histogram\n`);
  });
});
