/**
 * `npm run gateway`: the fleet gateway. Validated configuration (one line naming a bad variable,
 * exit 1), the app, listen, and on SIGTERM/SIGINT a close that answers the queries in flight.
 */
import closeWithGrace from 'close-with-grace';
import { ConfigError } from '../config.js';
import { buildGateway } from './app.js';
import { loadGatewayConfig } from './config.js';

let config;
try {
  config = loadGatewayConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`vsmmu-gateway: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const { app } = await buildGateway(config);
closeWithGrace({ delay: 10_000, logger: { error: (msg: unknown) => app.log.error(msg) } }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an uncaught error');
  else app.log.info({ signal }, 'shutting down');
  await app.close();
});

await app.listen({ port: config.port, host: config.host });
// Names and URLs only: the tokens stay out of the log.
app.log.info({ hosts: config.hosts.map((h) => ({ name: h.name, url: h.url, token: h.token !== null })), timeoutMs: config.timeoutMs }, 'fleet gateway ready');
