# The service on the embedded SQLite default; the database lives on the volume at /data.
FROM node:20-bookworm-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# npm ci's postinstall generates the Prisma client and compiles src/ to dist/ (npm start runs
# dist/server.js), so the sources come first.
COPY . .
RUN npm ci
ENV HOST=0.0.0.0 PORT=3000 DATABASE_URL=file:/data/vsmmu.db
VOLUME ["/data"]
EXPOSE 3000
CMD ["npm", "start"]
