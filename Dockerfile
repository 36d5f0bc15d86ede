# One image for both processes; run one per container:
#   docker run … perpetua-flow                                             the API (default)
#   docker run --no-healthcheck … perpetua-flow node dist/jobs/worker.js   the worker
# Both run the compiled JavaScript in dist/; migrations run when either starts. The embedded
# PostgreSQL is a development dependency and is not in the image: set DATABASE_URL (and, in
# production, PUBLIC_API_URL and the JWT key pair).
# `npm run image:check` lays out this image's files without Docker and starts both from them.

# The newest Node.js LTS line that CI tests (.ci/run).
FROM node:26-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Install scripts are only needed by the embedded PostgreSQL, which the build does not use.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY openapi.yaml tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY db ./db
COPY jobs ./jobs
RUN node scripts/build.mjs

FROM node:26-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

FROM node:26-trixie-slim
# WORKER_METRICS_PORT: the worker's own /metrics (the API ignores it; 0 turns it off).
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000 WORKER_METRICS_PORT=9465
# Behind a load balancer on a private network: its X-Forwarded-For names the client, so per-IP limits
# count clients, not the balancer. Override with the balancer's own addresses where they are known.
ENV TRUST_PROXY=loopback,linklocal,uniquelocal
WORKDIR /app
# Owned by root and read-only to the process: it writes nothing to disk.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json openapi.yaml ./
COPY db/migrations ./db/migrations
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8000 9465
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health/live').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "dist/src/main.js"]
