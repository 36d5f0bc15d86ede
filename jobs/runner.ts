import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { run, type Runner, type TaskList } from 'graphile-worker';
import type pg from 'pg';
import type { Database } from '../db/index.js';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/http/logging.js';
import '../src/domain/events/subscribers.js';
import { cleanup } from './tasks/cleanup.js';

export interface WorkerDeps {
  config: Config;
  db: Database;
  pool: pg.Pool;
  log: Logger;
}

export interface RunningWorker {
  workerId: string;
  runner: Runner;
  stop(): Promise<void>;
}

/** Cron lines, in UTC. */
export const CRONTAB = ['17 * * * * cleanup ?fill=2h'].join('\n');

export function taskList(deps: WorkerDeps): TaskList {
  return {
    cleanup: async () => {
      const result = await cleanup(deps.db);
      deps.log.info({ job: 'cleanup', ...result }, 'cleanup done');
    },
  };
}

/** The readiness probe reads this row: a worker that stops beating is a worker that is gone. */
async function beat(deps: WorkerDeps, workerId: string): Promise<void> {
  const now = new Date();
  await deps.db
    .insertInto('worker_heartbeats')
    .values({ worker_id: workerId, hostname: os.hostname(), pid: process.pid, beat_at: now, updated_at: now })
    .onConflict((oc) => oc.column('worker_id').doUpdateSet({ beat_at: now, updated_at: now }))
    .execute();
}

/** Starts graphile-worker with our tasks, cron and heartbeat. Used by jobs/worker.ts and by tests. */
export async function startWorker(deps: WorkerDeps, opts: { handleSignals?: boolean } = {}): Promise<RunningWorker> {
  const workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const runner = await run({
    pgPool: deps.pool,
    concurrency: deps.config.WORKER_CONCURRENCY,
    pollInterval: deps.config.WORKER_POLL_INTERVAL_MS,
    noHandleSignals: !opts.handleSignals,
    taskList: taskList(deps),
    crontab: CRONTAB,
    logger: undefined,
  });
  await beat(deps, workerId);
  const timer = setInterval(() => {
    beat(deps, workerId).catch((err) => deps.log.warn({ err }, 'worker heartbeat failed'));
  }, deps.config.WORKER_HEARTBEAT_SECONDS * 1000);
  timer.unref();
  let stopped = false;
  return {
    workerId,
    runner,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await runner.stop();
      await deps.db.deleteFrom('worker_heartbeats').where('worker_id', '=', workerId).execute().catch(() => {});
    },
  };
}
