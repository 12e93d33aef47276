# The service as compiled JavaScript on Node 24 LTS, on the embedded SQLite default; the database
# lives on the volume at /data. Two stages: the first has the toolchain and every dependency
# (TypeScript, the Prisma generator) to build; the second only what `node dist/server.js` loads.
# test/ops/ship.test.ts keeps this file and docker-compose.yml consistent, and starts the server
# from exactly the files the second stage copies, with production dependencies only.

FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# npm ci's postinstall generates the Prisma client and compiles src/ to dist/, so the sources come
# first; then the dev dependencies go (dist/ and the native better-sqlite3 build stay).
COPY . .
RUN npm ci && npm prune --omit=dev

FROM node:24-bookworm-slim
# tini as PID 1: it forwards SIGTERM to node (the graceful shutdown of src/server.ts) and reaps
# children; npm is not in the way of signals.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown node:node /data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 DATABASE_URL=file:/data/vsmmu.db
# The image's own user (uid 1000), not root; it owns /data and nothing under /app.
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server.js"]
