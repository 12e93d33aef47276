/**
 * Overload protection (issue 12), each limit configurable and 0 to turn it off (config.ts).
 *
 * - Admission per event-loop turn (MAX_TURN_BYTES). Node reads every ready connection in one turn
 *   of its event loop and, our handlers being synchronous, serves each request it completes there
 *   and then. Under a flood of big requests (200 connections of 4096-entry invalidations) one turn
 *   so serves all of them — seconds of work — before it reads anything else, and a liveness probe
 *   waits behind the whole turn. So a request with a body (a write, a GraphQL POST) is admitted
 *   only while the bytes admitted in this turn (by their Content-Length; the heavy requests —
 *   invalidation and queue batches, guest memory — cost about their size) stay within the budget;
 *   otherwise it waits, before its body is read (Node stops reading the connection), and is
 *   admitted first come first served in a later turn. A turn's first request is always admitted
 *   (BODY_LIMIT bounds it). A probe thus waits for about one turn's budget of work, whatever the
 *   number of clients, and the clients are not refused: they queue. Counting bytes, not time,
 *   keeps it deterministic: a CPU-starved host or a test working on the same thread changes
 *   nothing. A body of unknown length (chunked) counts as 64 KiB.
 * - In-flight cap (MAX_IN_FLIGHT): requests with a body waiting or being served. One more is shed
 *   at once, before its body is read, with 503 EOVERLOAD and Retry-After. At shutdown the ones
 *   still waiting (not started) are answered 503 ESHUTDOWN; the admitted ones finish.
 * - Event-loop delay and heap (@fastify/under-pressure, MAX_EVENT_LOOP_DELAY, MAX_HEAP_USED):
 *   above either, every request but the probes is shed with 503 EOVERLOAD and Retry-After. The
 *   delay is the mean over PRESSURE_SAMPLE_INTERVAL (an interval without any sample: the loop was
 *   blocked throughout, counts as over the limit); the first two intervals after the start (the
 *   start's own long tasks) are not a measurement and shed nothing. Off by default: a one-off
 *   long task would shed the next interval's requests; admission per turn bounds the queue.
 * - Rate limit (@fastify/rate-limit, RATE_LIMIT_MAX per RATE_LIMIT_WINDOW): per token (by its
 *   name, never the token), per client address without API_TOKENS; 429 EAGAIN with Retry-After.
 *
 * `/healthz` and `/readyz` (route config `probe: true`) are exempt from all of it. Admission runs
 * before authentication (it must come before any work); the rate limit after it (it needs the
 * token). Reads (GET, HEAD) are answered from memory and are not queued.
 */
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { OverloadConfig } from '../../config.js';
import { ServiceError } from './problem.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Requests with a body waiting or being served now (metrics). */
    inFlight(): number;
    /** Of those, the ones waiting for a turn's budget (metrics). */
    admissionQueue(): number;
  }
}

/** What a body of unknown length (chunked) counts as against MAX_TURN_BYTES. */
const CHUNKED_BYTES = 64 * 1024;
const isRead = (method: string) => method === 'GET' || method === 'HEAD' || method === 'OPTIONS';

interface Waiting {
  bytes: number;
  request: FastifyRequest;
  reply: FastifyReply;
  done: (err?: Error) => void;
}

export const overloadPlugin = fp<OverloadConfig & { bodyLimit: number }>(
  async (app: FastifyInstance, opts) => {
    const retryAfter = String(opts.retryAfterSeconds);
    const shed = (reply: FastifyReply, detail: string, extensions: Record<string, unknown>) => {
      reply.header('retry-after', retryAfter);
      return new ServiceError('EOVERLOAD', `${detail}; retry after ${retryAfter} s`, { extensions });
    };

    let inFlight = 0;
    const waiting: Waiting[] = [];
    let head = 0;
    app.decorate('inFlight', () => inFlight);
    app.decorate('admissionQueue', () => waiting.length - head);

    if (opts.maxInFlight > 0 || opts.maxTurnBytes > 0) {
      const maxCount = opts.maxInFlight || Infinity;
      const maxTurn = opts.maxTurnBytes || Infinity;
      const release = () => {
        inFlight--;
      };
      let turnBytes = 0;
      let turnRequests = 0;
      let turnScheduled = false;
      const fits = (bytes: number) => turnRequests === 0 || turnBytes + bytes <= maxTurn;
      const admit = (bytes: number) => {
        turnBytes += bytes;
        turnRequests++;
        if (!turnScheduled) {
          turnScheduled = true;
          setImmediate(nextTurn);
        }
      };
      // The check phase closes the turn: a new budget, spent first on the waiting requests.
      const nextTurn = () => {
        turnScheduled = false;
        turnBytes = 0;
        turnRequests = 0;
        while (head < waiting.length && fits(waiting[head].bytes)) {
          const w = waiting[head++];
          // A client that left while waiting frees its place and costs nothing.
          if (w.request.raw.destroyed) continue;
          admit(w.bytes);
          w.done();
        }
        if (head === waiting.length) {
          waiting.length = 0;
          head = 0;
        } else if (head >= 1024 && head * 2 >= waiting.length) {
          // A queue that never empties (sustained overload) still lets go of the answered.
          waiting.splice(0, head);
          head = 0;
        }
        if (head < waiting.length && !turnScheduled) {
          turnScheduled = true;
          setImmediate(nextTurn);
        }
      };

      // At shutdown the requests still waiting have not started: they are refused (503
      // ESHUTDOWN, retry elsewhere) rather than run, so the close waits for admitted work only.
      app.addHook('preClose', (done) => {
        while (head < waiting.length) {
          const w = waiting[head++];
          w.reply.header('connection', 'close').header('retry-after', retryAfter);
          w.done(new ServiceError('ESHUTDOWN', 'the service is shutting down; the request was not started: retry on another instance or after the restart'));
        }
        waiting.length = 0;
        head = 0;
        done();
      });

      // Callback style: it runs on every request, and an async hook costs a promise each.
      app.addHook('onRequest', (request, reply, done) => {
        if (isRead(request.method) || request.routeOptions.config?.probe) return done();
        if (inFlight >= maxCount) return done(shed(reply, `${inFlight} requests are waiting or being served (MAX_IN_FLIGHT ${maxCount})`, { reason: 'inFlight' }));
        inFlight++;
        // 'close' comes once per response: answered, failed or abandoned by the client.
        reply.raw.once('close', release);
        const length = request.headers['content-length'];
        const bytes = length === undefined ? CHUNKED_BYTES : Math.min(Number(length) || 0, opts.bodyLimit);
        if (head === waiting.length && fits(bytes)) {
          admit(bytes);
          return done();
        }
        // Nobody reads the body until `done`: Node buffers a little, then stops reading the socket.
        waiting.push({ bytes, request, reply, done: (err?: Error) => done(err) });
        if (!turnScheduled) {
          turnScheduled = true;
          setImmediate(nextTurn);
        }
      });
    }

    if (opts.maxEventLoopDelayMs > 0 || opts.maxHeapUsedBytes > 0) {
      // The first intervals after the start hold the start's own long tasks: not load.
      let delayCountsFrom = Infinity;
      app.addHook('onReady', (done) => {
        delayCountsFrom = performance.now() + 2 * opts.pressureSampleIntervalMs;
        done();
      });
      await app.register(underPressure, {
        maxEventLoopDelay: opts.maxEventLoopDelayMs,
        maxHeapUsedBytes: opts.maxHeapUsedBytes,
        sampleInterval: opts.pressureSampleIntervalMs,
        retryAfter: opts.retryAfterSeconds,
        // A rejected promise is passed to the error handler (problem+json); a probe passes.
        pressureHandler: async (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => {
          if (request.routeOptions.config?.probe) return;
          if (type === 'eventLoopDelay' && performance.now() < delayCountsFrom) return;
          // Infinity: no sample at all in the last interval, the loop was blocked throughout.
          const delay = Number.isFinite(value) ? `${Math.round(value ?? 0)} ms` : `over ${opts.pressureSampleIntervalMs} ms`;
          const what = type === 'eventLoopDelay' ? `event-loop delay ${delay} (MAX_EVENT_LOOP_DELAY ${opts.maxEventLoopDelayMs})` : `heap in use ${value} bytes (MAX_HEAP_USED ${opts.maxHeapUsedBytes})`;
          throw shed(reply, `the service is under pressure: ${what}`, { reason: type });
        },
      });
    }

    if (opts.rateLimitMax > 0) {
      const windowSeconds = opts.rateLimitWindowMs / 1000;
      await app.register(rateLimit, {
        global: true,
        max: opts.rateLimitMax,
        timeWindow: opts.rateLimitWindowMs,
        // After auth (a route-level hook runs after the app's): the token's name, else the address.
        keyGenerator: (request) => (request.tokenName === null ? `ip:${request.ip}` : `token:${request.tokenName}`),
        // The counters travel on 429s only (every answer would pay for three headers).
        addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
        errorResponseBuilder: (_request, context) =>
          new ServiceError('EAGAIN', `more than ${context.max} requests in ${windowSeconds} s; retry in ${context.after}`, {
            extensions: { limit: context.max, windowSeconds },
          }),
      });
    }
  },
  { name: 'overload' },
);
