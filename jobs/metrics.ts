import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkerEvents } from 'graphile-worker';
import client from 'prom-client';

/**
 * The worker's Prometheus metrics, counted from graphile-worker's events (job:start, job:success,
 * job:error, job:failed). Each worker process counts only the jobs it ran; sum over instances.
 * Tasks are our own fixed list (jobs/names.ts), so the `task` label stays bounded.
 */
export function createWorkerMetrics(opts: { collectDefault?: boolean } = {}) {
  const registry = new client.Registry();
  if (opts.collectDefault ?? true) client.collectDefaultMetrics({ register: registry });
  const started = new client.Counter({
    name: 'jobs_started_total',
    help: 'Job attempts started by this worker, by task.',
    labelNames: ['task'] as const,
    registers: [registry],
  });
  const finished = new client.Counter({
    name: 'jobs_total',
    help: 'Job attempts finished by this worker, by task and outcome: succeeded; retried (the attempt threw, the job runs again later); failed (the last allowed attempt threw: the job stays in the queue, failed, until removed).',
    labelNames: ['task', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'job_duration_seconds',
    help: 'Time a job attempt ran, by task and outcome (succeeded or error).',
    labelNames: ['task', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  });
  const lag = new client.Histogram({
    name: 'job_start_delay_seconds',
    help: 'Queue lag: from the time a job was due (its run_at) to the time a worker started it, by task.',
    labelNames: ['task'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers: [registry],
  });
  const cronRuns = new client.Counter({
    name: 'cron_runs_total',
    help: 'Runs of cron jobs (jobs/runner.ts CRONTAB) by this worker, by task and outcome (succeeded, retried, failed); backfilled ticks included.',
    labelNames: ['task', 'outcome'] as const,
    registers: [registry],
  });
  const cronLastSuccess = new client.Gauge({
    name: 'cron_last_success_timestamp_seconds',
    help: 'Unix time of the last cron run of each task that succeeded on this worker (absent until one has).',
    labelNames: ['task'] as const,
    registers: [registry],
  });

  const startedAt = new Map<string, number>();
  const isCron = (payload: unknown) => typeof payload === 'object' && payload !== null && '_cron' in payload;
  const end = (job: { id: string; task_identifier: string; payload: unknown }, outcome: 'succeeded' | 'retried' | 'failed') => {
    const task = job.task_identifier;
    finished.inc({ task, outcome });
    if (isCron(job.payload)) {
      cronRuns.inc({ task, outcome });
      if (outcome === 'succeeded') cronLastSuccess.set({ task }, Date.now() / 1000);
    }
    const t0 = startedAt.get(job.id);
    startedAt.delete(job.id);
    if (t0 !== undefined) duration.observe({ task, outcome: outcome === 'succeeded' ? 'succeeded' : 'error' }, (performance.now() - t0) / 1000);
  };

  /** Counts the jobs of one graphile-worker runner from its events. */
  const observe = (events: WorkerEvents) => {
    events.on('job:start', ({ job }) => {
      startedAt.set(job.id, performance.now());
      started.inc({ task: job.task_identifier });
      lag.observe({ task: job.task_identifier }, Math.max(0, (Date.now() - new Date(job.run_at).getTime()) / 1000));
    });
    events.on('job:success', ({ job }) => end(job, 'succeeded'));
    // job:error comes for every attempt that throws; job:failed follows it for the last one.
    events.on('job:error', ({ job }) => {
      if (job.attempts < job.max_attempts) end(job, 'retried');
    });
    events.on('job:failed', ({ job }) => end(job, 'failed'));
  };

  return { registry, observe };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

export interface MetricsServer {
  /** `http://host:port`, as it listens. */
  url: string;
  close(): Promise<void>;
}

/** Serves `GET /metrics` (and nothing else) on host:port for Prometheus. */
export async function serveWorkerMetrics(registry: client.Registry, host: string, port: number): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Only /metrics is served here\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Metrics failed\n'),
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
