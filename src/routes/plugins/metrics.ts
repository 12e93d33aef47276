/**
 * GET /metrics (api.md "Operations"): Prometheus text exposition through prom-client. One registry
 * per app (tests run several apps in one process). Request durations are observed per route
 * pattern (never the raw URL, so ids do not explode the label space); the object graph, the SMMU
 * models and the vEVENTQs are read at scrape time from memory, without a database round trip.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { Iommufd } from '../../domain/service.js';
import { OBJECT_TYPES } from '../../domain/types.js';
import { RequestHistogram } from './request-histogram.js';

/** The request-duration buckets (seconds). */
export const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** What storage reports: database transactions (app.ts wires it). */
export interface StorageStats {
  transactions(): number;
  /** WAL checkpoints the checkpoint worker took, and the frames they copied (storage/checkpointer.ts). */
  checkpoints(): { checkpoints: number; frames: number; running: boolean };
}

export const metricsPlugin = fp<{ storage?: StorageStats }>(
  async (app, { storage }) => {
    installMetrics(app, app.iommufd, storage);
  },
  { name: 'metrics', dependencies: ['iommufd'] },
);

function installMetrics(app: FastifyInstance, service: Iommufd, storage?: StorageStats): Registry {
  const register = new Registry();
  collectDefaultMetrics({ register, prefix: 'vsmmu_' });

  const duration = new RequestHistogram('vsmmu_http_request_duration_seconds', 'HTTP request duration by method, route pattern and status', REQUEST_BUCKETS);
  register.registerMetric(duration as unknown as Metric);
  const problems = new Counter({
    name: 'vsmmu_http_problems_total',
    help: 'problem+json responses by errno',
    labelNames: ['errno'] as const,
    registers: [register],
  });
  // Callback-style hooks: they run on every request, and an async hook costs a promise each.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    duration.observe(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.statusCode >= 400 && typeof payload === 'string' && String(reply.getHeader('content-type') ?? '').startsWith('application/problem+json')) {
      const errno = /"errno":"([A-Z0-9]+)"/.exec(payload)?.[1];
      if (errno) problems.inc({ errno });
    }
    done(null, payload);
  });

  new Gauge({
    name: 'vsmmu_objects',
    help: 'Live iommufd objects by type',
    labelNames: ['type'] as const,
    registers: [register],
    collect() {
      // The graph's per-type index (src/domain/indexes.ts): a scrape costs the types, not the objects.
      for (const type of OBJECT_TYPES) this.set({ type }, service.graph.sortedIds('objects', 'type', type)?.size ?? 0);
    },
  });
  if (app.hasDecorator('inFlight')) {
    new Gauge({
      name: 'vsmmu_http_in_flight',
      help: 'Writes and GraphQL POSTs waiting or being served now (what MAX_IN_FLIGHT caps)',
      registers: [register],
      collect() {
        this.set(app.inFlight());
      },
    });
    new Gauge({
      name: 'vsmmu_http_admission_queue',
      help: 'Of those, the ones waiting for an event-loop turn (MAX_TURN_BYTES)',
      registers: [register],
      collect() {
        this.set(app.admissionQueue());
      },
    });
  }
  new Gauge({
    name: 'vsmmu_contexts',
    help: 'Contexts (VMs)',
    registers: [register],
    collect() {
      this.set(service.graph.tables.contexts.size);
    },
  });
  new Gauge({
    name: 'vsmmu_devices_bound',
    help: 'Devices bound to a context',
    registers: [register],
    collect() {
      this.set(service.graph.size('devices') - (service.graph.sortedIds('devices', 'context', '-')?.size ?? 0));
    },
  });
  new Gauge({
    name: 'vsmmu_veventq_pending',
    help: 'Records queued on vEVENTQs, not yet read',
    registers: [register],
    collect() {
      this.set(service.graph.tables.events.size);
    },
  });

  // The hardware models' state: entries are gauges; what only grows (commands, errors, hits,
  // misses, evictions) is a counter with a `_total` name, as Prometheus wants (rate() and
  // increase() handle its reset at a restart, as the model restarts from zero, like hardware).
  type SmmuStats = ReturnType<ReturnType<Iommufd['hardware']['model']>['stats']>;
  const eachSmmu = (write: (smmu: string, stats: SmmuStats) => void) => {
    for (const smmu of service.graph.values('smmus')) {
      if (service.hardware.hasModel(smmu.id)) write(smmu.name, service.hardware.model(smmu.id).stats());
    }
  };
  const smmuGauge = (name: string, help: string, pick: (s: SmmuStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['smmu'] as const,
      registers: [register],
      collect() {
        this.reset();
        eachSmmu((smmu, stats) => this.set({ smmu }, pick(stats)));
      },
    });
  const smmuCounter = (name: `${string}_total`, help: string, pick: (s: SmmuStats) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['smmu'] as const,
      registers: [register],
      collect() {
        this.reset();
        eachSmmu((smmu, stats) => this.inc({ smmu }, pick(stats)));
      },
    });
  smmuCounter('vsmmu_smmu_commands_executed_total', 'Commands the SMMU model executed since start', (s) => s.commands.executed);
  smmuCounter('vsmmu_smmu_command_errors_total', 'CERROR_* stops of the SMMU command queue since start', (s) => Object.values(s.commands.errors).reduce((a, b) => a + b, 0));
  smmuGauge('vsmmu_smmu_iotlb_entries', 'IOTLB entries', (s) => s.iotlb.entries);
  smmuCounter('vsmmu_smmu_iotlb_hits_total', 'IOTLB hits since start', (s) => s.iotlb.hits);
  smmuCounter('vsmmu_smmu_iotlb_misses_total', 'IOTLB misses since start', (s) => s.iotlb.misses);
  smmuCounter('vsmmu_smmu_iotlb_evictions_total', 'IOTLB evictions since start', (s) => s.iotlb.evictions);
  smmuGauge('vsmmu_smmu_atc_entries', 'ATC entries', (s) => s.atc.entries);

  if (storage) {
    new Counter({
      name: 'vsmmu_db_transactions_total',
      help: 'Database transactions (group commits) since start',
      registers: [register],
      collect() {
        this.reset();
        this.inc(storage.transactions());
      },
    });
    new Counter({
      name: 'vsmmu_db_wal_checkpoints_total',
      help: 'WAL checkpoints that copied frames into the database file, taken by the checkpoint worker since start',
      registers: [register],
      collect() {
        this.reset();
        this.inc(storage.checkpoints().checkpoints);
      },
    });
    new Counter({
      name: 'vsmmu_db_wal_checkpointed_frames_total',
      help: 'WAL frames (pages) the checkpoint worker copied into the database file since start',
      registers: [register],
      collect() {
        this.reset();
        this.inc(storage.checkpoints().frames);
      },
    });
    new Gauge({
      name: 'vsmmu_db_checkpoint_worker_up',
      help: '1 while the checkpoint worker runs (WAL_CHECKPOINTS=worker); 0 without it or after it failed (the service connection then checkpoints inside commits)',
      registers: [register],
      collect() {
        this.set(storage.checkpoints().running ? 1 : 0);
      },
    });
  }

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', register.contentType);
    return register.metrics();
  });
  return register;
}
