import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../jobs/enqueue.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/services.js';

// The worker's own /metrics (WORKER_METRICS_PORT on HOST, 127.0.0.1 here): job outcomes by task,
// counted from graphile-worker's events, scraped over HTTP as Prometheus does.

let t: TestApp;
let port: number;

beforeAll(async () => {
  port = await freePort();
  t = await startTestApp({ env: { WORKER_METRICS_PORT: String(port) } });
});
afterAll(() => t?.close());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

const scrape = async () => {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
};
/** The value of one series (0 when absent: a counter not yet incremented). */
const valueOf = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length)?.value ?? 0;

const jobsLeft = async (task: string) =>
  (await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where task_identifier = ${task} and attempts < max_attempts`.execute(t.db)).rows[0]!.n;

describe('the worker’s /metrics', () => {
  it('counts jobs started, succeeded, retried and failed by task, queue lag and cron runs', async () => {
    // streak_calculate runs from cron only at 00:00 UTC: the counts below are this test's jobs alone.
    const worker = await t.startWorker();
    try {
      expect(worker.metricsUrl).toBe(`http://127.0.0.1:${port}`);
      const before = await scrape();
      expect(valueOf(before, 'jobs_started_total', { task: 'streak_calculate' })).toBe(0);

      // One that succeeds, one that fails on its only attempt, one that fails twice (retried, then failed),
      // one as cron enqueues it (payload `_cron`), which succeeds.
      const now = new Date().toISOString();
      await enqueueJob(t.db, { name: 'streak_calculate', payload: { now } });
      await enqueueJob(t.db, { name: 'streak_calculate', payload: { now: 'not a date' }, maxAttempts: 1 });
      await enqueueJob(t.db, { name: 'streak_calculate', payload: { now: 'not a date either' }, maxAttempts: 2, jobKey: 'metrics-retried' });
      await enqueueJob(t.db, { name: 'streak_calculate', payload: { _cron: { ts: now } } });
      await expect.poll(async () => valueOf(await scrape(), 'jobs_total', { task: 'streak_calculate', outcome: 'retried' }), { timeout: 15_000 }).toBe(1);
      // The retry waits graphile-worker's backoff (e^1 s); bring it forward.
      await sql`update graphile_worker._private_jobs set run_at = now() where key = 'metrics-retried'`.execute(t.db);
      await expect.poll(() => jobsLeft('streak_calculate'), { timeout: 15_000 }).toBe(0);
      await expect.poll(async () => valueOf(await scrape(), 'jobs_total', { task: 'streak_calculate', outcome: 'failed' }), { timeout: 15_000 }).toBe(2);

      const after = await scrape();
      const task = { task: 'streak_calculate' };
      expect(valueOf(after, 'jobs_started_total', task)).toBe(5);
      expect(valueOf(after, 'jobs_total', { ...task, outcome: 'succeeded' })).toBe(2);
      expect(valueOf(after, 'jobs_total', { ...task, outcome: 'retried' })).toBe(1);
      expect(valueOf(after, 'jobs_total', { ...task, outcome: 'failed' })).toBe(2);
      // Every attempt is counted once: started = succeeded + retried + failed.
      expect(valueOf(after, 'job_duration_seconds_count', { ...task, outcome: 'succeeded' })).toBe(2);
      expect(valueOf(after, 'job_duration_seconds_count', { ...task, outcome: 'error' })).toBe(3);
      expect(valueOf(after, 'job_start_delay_seconds_count', task)).toBe(5);
      expect(valueOf(after, 'job_start_delay_seconds_bucket', { ...task, le: '+Inf' })).toBe(5);
      expect(valueOf(after, 'cron_runs_total', { ...task, outcome: 'succeeded' })).toBe(1);
      expect(valueOf(after, 'cron_last_success_timestamp_seconds', task)).toBeGreaterThan(Date.now() / 1000 - 60);
      // Node's own process metrics, as on the API's /metrics.
      expect(after.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);

      // Only /metrics is served there.
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    } finally {
      await worker.stop();
    }
    // Stopped with the worker.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('the API no longer declares jobs_total, which only the worker can count', async () => {
    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(text).not.toMatch(/^# TYPE jobs_total /m);
    expect(text).toMatch(/^# TYPE jobs_queued gauge/m);
  });
});

describe('WORKER_METRICS_PORT', () => {
  it('is off by default (0): nothing is served', async () => {
    const other = await startTestApp({ databaseUrl: t.databaseUrl });
    try {
      expect(other.config.WORKER_METRICS_PORT).toBe(0);
      const worker = await other.startWorker();
      expect(worker.metricsUrl).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});
