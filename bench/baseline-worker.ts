import { run } from 'graphile-worker';
import pg from 'pg';
import { summarize } from './lib/stats.js';

// The floor the reminder lag is compared with: graphile-worker alone, with the worker's concurrency
// and poll interval, running JOBS jobs of a task that does nothing, all due at one instant. It adds
// the jobs, waits for every one, then prints `baseline-worker {"done":…,"lag":{…}}` and exits.
//   DATABASE_URL, JOBS, CONCURRENCY, POLL_INTERVAL_MS

const jobs = Number(process.env.JOBS ?? 10_000);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.CONCURRENCY ?? 4) + 3 });
const runAt = new Date(Date.now() + 15_000);
await pool.query(`select graphile_worker.add_job('bench_noop', json_build_object('i', g), run_at => $1::timestamptz) from generate_series(1, $2::int) g`, [runAt.toISOString(), jobs]);

const lags: number[] = [];
let resolveDone: () => void = () => {};
const done = new Promise<void>((r) => (resolveDone = r));
const runner = await run({
  pgPool: pool,
  concurrency: Number(process.env.CONCURRENCY ?? 4),
  pollInterval: Number(process.env.POLL_INTERVAL_MS ?? 1000),
  noHandleSignals: true,
  taskList: {
    bench_noop: async (_payload, helpers) => {
      lags.push(Date.now() - helpers.job.run_at.getTime());
      if (lags.length >= jobs) resolveDone();
    },
  },
});
await Promise.race([done, new Promise((r) => setTimeout(r, 15_000 + 180_000))]);
await runner.stop();
await pool.query(`delete from graphile_worker._private_jobs where task_id = (select id from graphile_worker._private_tasks where identifier = 'bench_noop')`);
await pool.end();
console.log(`baseline-worker ${JSON.stringify({ done: lags.length, lag: summarize(lags) })}`);
process.exit(0);
