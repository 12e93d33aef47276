/**
 * Starts the service: validated configuration, the app, listen, and a graceful stop.
 *
 * On SIGTERM or SIGINT (close-with-grace): /readyz answers 503 at once (plugins/lifecycle.ts);
 * after SHUTDOWN_DELAY the listener closes (new connections are refused), the requests in flight
 * are answered, queued writes commit and the database closes (app.ts onClose); exit 0. A second
 * signal exits at once (code 1); a shutdown that takes longer than SHUTDOWN_TIMEOUT exits 1.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`vsmmu-control: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const { app, topologyLoaded, database } = await buildApp(config);
if (database.appliedMigrations.length > 0) app.log.info({ migrations: database.appliedMigrations }, 'applied migrations');
app.log.info({ file: database.file, journalMode: database.journalMode }, 'database open');
if (topologyLoaded) app.log.info({ source: config.topologySource }, 'host topology loaded into the empty inventory');

const { shutdownDelayMs, shutdownTimeoutMs } = config;
closeWithGrace(
  {
    delay: shutdownTimeoutMs,
    logger: { error: (msg: unknown) => app.log.error(msg) },
    onSecondSignal: (signal) => app.log.error({ signal }, 'second signal: exiting at once'),
    onTimeout: (ms) => app.log.error({ ms }, 'shutdown took longer than SHUTDOWN_TIMEOUT: exiting'),
  },
  async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an uncaught error');
    else app.log.info({ signal, delayMs: shutdownDelayMs }, 'shutting down: /readyz is 503, closing the listener after the delay');
    app.lifecycle.draining = true;
    if (shutdownDelayMs > 0) await sleep(shutdownDelayMs);
    await app.close();
    app.log.info('shut down: requests answered, writes committed, database closed');
  },
);

await app.listen({ port: config.port, host: config.host });
