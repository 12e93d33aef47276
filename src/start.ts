/**
 * Starts the service: validated configuration, the app, listen, and a graceful stop. Loaded by
 * src/server.ts once it has chosen this Node's better-sqlite3 (storage/sqlite-driver.ts).
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

/** The one line a refused start writes (stderr, exit code 1): never a stack trace. */
function refuse(line: string): never {
  process.stderr.write(`vsmmu-control: ${line.split('\n')[0]}\n`);
  process.exit(1);
}

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) refuse(`invalid configuration: ${err.message}`);
  throw err;
}

let built;
try {
  built = await buildApp(config);
} catch (err) {
  // Opening the database (and loading the graph from it) is what buildApp can fail at: the place
  // was checked in loadConfig, so this is SQLite's or a migration's own refusal.
  const message = err instanceof Error ? err.message : String(err);
  refuse(/^[A-Z_]+: /.test(message) ? `cannot start: ${message}` : `cannot start: DATABASE_URL: ${config.databaseUrl}: ${message}`);
}
const { app, topologyLoaded, database } = built;
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

/** A listen failure as the variable to change: the port is taken, the host is not ours. */
function listenFailure(err: NodeJS.ErrnoException, host: string, port: number): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `PORT: port ${port} on ${host} is already in use`;
    case 'EACCES':
      return `PORT: no permission to listen on port ${port}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return `HOST: ${host} does not resolve (${err.code})`;
    case 'EADDRNOTAVAIL':
      return `HOST: ${host} is not an address of this machine`;
    default:
      return `HOST/PORT: cannot listen on ${host}:${port}: ${err.message}`;
  }
}

try {
  await app.listen({ port: config.port, host: config.host });
} catch (err) {
  const line = listenFailure(err as NodeJS.ErrnoException, config.host, config.port);
  await app.close().catch(() => undefined);
  refuse(`cannot start: ${line}`);
}
