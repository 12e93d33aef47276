/** Starts the service: validated configuration, the app, listen, and a clean stop on signals. */
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

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

await app.listen({ port: config.port, host: config.host });
