/**
 * The service's shutdown state (`app.lifecycle`), what server.ts drives on SIGTERM/SIGINT:
 *
 * 1. `draining`: set at the signal. /readyz answers 503 ESHUTDOWN so a load balancer stops
 *    sending; everything else is still served for SHUTDOWN_DELAY.
 * 2. `closing`: set by `app.close()` (preClose). The listener is closed (new connections are
 *    refused); requests still arriving on open connections answer 503 ESHUTDOWN as problem+json;
 *    every answer from now on carries `Connection: close`, so a keep-alive connection ends with
 *    its in-flight request instead of holding the close for the keep-alive timeout; open SSE
 *    streams are ended (GraphQL's WebSockets are closed by @fastify/websocket's own preClose).
 * 3. The server closes once the in-flight requests are answered; then app.ts's onClose drains
 *    the store (queued writes commit) and closes the database.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ServiceError } from './problem.js';

export interface Lifecycle {
  /** A shutdown has begun: /readyz is 503. */
  draining: boolean;
  /** app.close() has begun: every request is 503 ESHUTDOWN. */
  closing: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle;
  }
  interface FastifyContextConfig {
    /** A health or readiness probe: exempt from rate limiting and load shedding. */
    probe?: boolean;
  }
}

/** Routes that stream until the client leaves (SSE): ended at shutdown. */
const STREAMING_ROUTE = /\/stream$/;

export const lifecyclePlugin = fp<{ retryAfterSeconds: number }>(
  async (app: FastifyInstance, { retryAfterSeconds }) => {
    const state: Lifecycle = { draining: false, closing: false };
    app.decorate('lifecycle', state);

    const streams = new Set<ServerResponse>();
    app.addHook('onRoute', (route) => {
      if (route.method !== 'GET' || !STREAMING_ROUTE.test(route.url)) return;
      const track = (_request: unknown, reply: { raw: ServerResponse }, done: () => void) => {
        const res = reply.raw;
        streams.add(res);
        res.once('close', () => streams.delete(res));
        done();
      };
      route.onRequest = [...(Array.isArray(route.onRequest) ? route.onRequest : route.onRequest ? [route.onRequest] : []), track];
    });

    app.addHook('preClose', (done) => {
      state.draining = true;
      state.closing = true;
      for (const res of streams) {
        res.end();
        // A real socket closes once the end is written (light-my-request's has no destroySoon).
        if (typeof res.socket?.destroySoon === 'function') res.socket.destroySoon();
      }
      streams.clear();
      done();
    });

    app.addHook('onRequest', (_request, reply, done) => {
      if (!state.closing) return done();
      reply.header('connection', 'close').header('retry-after', String(retryAfterSeconds));
      done(new ServiceError('ESHUTDOWN', 'the service is shutting down; retry on another instance or after the restart'));
    });
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (state.closing) reply.header('connection', 'close');
      done(null, payload);
    });
  },
  { name: 'lifecycle' },
);
