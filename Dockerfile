# One image for both processes; run one per container:
#   docker run … perpetua-flow                          the API (default)
#   docker run … perpetua-flow node --import tsx jobs/worker.ts   the worker (scripts/, which npm run start:worker builds with, is not in the image)
# Migrations run when either starts.

FROM node:20.20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Production dependencies only (tsx runs the TypeScript sources; no build step to drift from).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20.20-bookworm-slim
# WORKER_METRICS_PORT: the worker's own /metrics (the API ignores it; 0 turns it off).
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000 WORKER_METRICS_PORT=9465
# Behind a load balancer on a private network: its X-Forwarded-For names the client, so per-IP limits
# count clients, not the balancer. Override with the balancer's own addresses where they are known.
ENV TRUST_PROXY=loopback,linklocal,uniquelocal
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json openapi.yaml tsconfig.json ./
COPY codegen ./codegen
COPY db ./db
COPY jobs ./jobs
COPY src ./src
USER node
EXPOSE 8000 9465
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8000/health/live').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/main.ts"]
