# One image for the worker and the API; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
# PostgreSQL's tools (pg_basebackup, pg_dump, pg_amcheck...) and server, for restores of
# self-managed PostgreSQL: a point-in-time restore replays WAL in a private scratch cluster.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql && rm -rf /var/lib/apt/lists/*
ENV BATON_PG_BIN=/usr/lib/postgresql/15/bin
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
ENV NODE_ENV=production
USER node
CMD ["npx", "tsx", "src/worker.ts"]
