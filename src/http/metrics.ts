import { createHash, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import client from 'prom-client';
import { AppError } from './errors.js';

/**
 * The service's Prometheus metrics, in a registry of their own so several apps in one process
 * (tests) do not collide. Operation ids (not raw paths) label requests, so label cardinality stays
 * bounded whatever clients send.
 */
export function createMetrics(opts: { collectDefault?: boolean; pool?: pg.Pool } = {}) {
  const registry = new client.Registry();
  if (opts.collectDefault ?? true) client.collectDefaultMetrics({ register: registry });
  const pool = opts.pool;
  if (pool) {
    // Requests waiting for a connection are the first sign that the pool, not PostgreSQL, limits.
    new client.Gauge({
      name: 'db_pool_connections',
      help: "This process's database pool: connections open, idle, and requests waiting for one (at scrape time).",
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        this.set({ state: 'total' }, pool.totalCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
      },
    });
  }
  const requestDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'Request latency by operation and status.',
    labelNames: ['operation', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const errors = new client.Counter({
    name: 'http_errors_total',
    help: 'Error responses by operation and error code.',
    labelNames: ['operation', 'code'] as const,
    registers: [registry],
  });
  const jobs = new client.Gauge({
    name: 'jobs_queued',
    help: 'Jobs waiting in the queue, by task (read from the database at scrape time).',
    labelNames: ['task'] as const,
    registers: [registry],
  });
  const jobFailures = new client.Gauge({
    name: 'jobs_failed',
    help: 'Jobs that exhausted their attempts, by task (read from the database at scrape time).',
    labelNames: ['task'] as const,
    registers: [registry],
  });
  // FR-066. Read from the ledger at scrape time, so every API process reports the same cluster-wide
  // totals: aggregate with max(), not sum(). An account's deletion takes its entries with it.
  const credits = new client.Gauge({
    name: 'credits',
    help: 'Credits granted, consumed (charged for AI work, less refunds) and expired so far, by kind (read from the ledger at scrape time).',
    labelNames: ['kind', 'movement'] as const,
    registers: [registry],
  });
  // Job outcomes (jobs_total and the rest) are counted where jobs run: the worker's /metrics (jobs/metrics.ts).
  return { registry, requestDuration, errors, jobs, jobFailures, credits };
}

export type Metrics = ReturnType<typeof createMetrics>;

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Throws the 401 unless `authorization` is `Bearer <token>`; without a token (`METRICS_TOKEN`
 * unset) anyone may scrape. Compared as SHA-256 digests in constant time, so neither the
 * comparison nor the lengths tell how much of a guess was right.
 */
export function checkMetricsToken(authorization: string | undefined, token: string | undefined): void {
  if (token === undefined) return;
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1] ?? '';
  if (!timingSafeEqual(digest(presented), digest(token))) {
    throw new AppError('UNAUTHORIZED', 'The metrics need the METRICS_TOKEN bearer token', { headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' } });
  }
}
