import { EventEmitter } from 'node:events';
import os from 'node:os';
import { Logger as GraphileLogger, run, type JobHelpers, type Runner, type Task, type TaskList, type WorkerEvents } from 'graphile-worker';
import { sql } from 'kysely';
import type pg from 'pg';
import type { Database } from '../db/index.js';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/core/logging.js';
import { createWorkerMetrics, serveWorkerMetrics, type MetricsServer, type WorkerMetrics } from './metrics.js';
import { JobPayloadError, parseJobPayload, type JobName, type JobPayloads } from './names.js';
import { domainSubscribers } from '../src/domain/events/subscribers.js';
import { domainEvents } from '../src/domain/events/bus.js';
import { checkoutFromConfig } from '../src/integrations/checkout.js';
import { pushFromConfig } from '../src/integrations/web-push.js';
import { webhookSenderFromConfig } from '../src/integrations/webhook-sender.js';
import { cleanup } from './tasks/cleanup.js';
import { dailyCreditGrant } from './tasks/daily-credit-grant.js';
import { pushDeliver } from './tasks/push-deliver.js';
import { streakCalculate } from './tasks/streak-calculate.js';
import { subscriptionCheck } from './tasks/subscription-check.js';
import { recurringTaskGenerate } from './tasks/recurring-task-generate.js';
import { reminderFire } from './tasks/reminder-fire.js';
import { webhookDeliver } from './tasks/webhook-deliver.js';

export interface WorkerDeps {
  config: Config;
  db: Database;
  pool: pg.Pool;
  log: Logger;
}

export interface RunningWorker {
  /** graphile-worker's pool id: what its jobs' `locked_by` says, and the key of our heartbeat row. */
  workerId: string;
  runner: Runner;
  /** Job counters from graphile-worker's events (jobs/metrics.ts). */
  metrics: WorkerMetrics;
  /** Where GET /metrics is served (`http://host:port`); undefined when WORKER_METRICS_PORT is 0. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

/** Cron lines, in UTC. */
export const CRONTAB = [
  '17 * * * * cleanup ?fill=2h',
  // issue #5: billing and streaks; ?fill backfills a tick missed while no worker ran (each job is idempotent)
  '5 * * * * subscription_check ?fill=2h',
  '0 0 * * * daily_credit_grant ?fill=12h',
  '0 0 * * * streak_calculate ?fill=12h',
].join('\n');

/**
 * The job boundary: the payload is read through its job's schema (jobs/names.ts) before the handler
 * runs, and the handler gets the parsed value. A payload the schema refuses fails the job for good
 * on this attempt, without running the handler: the same payload would fail every retry, and the
 * failed job stays in the queue (attempts = max_attempts, last_error naming the job and the field)
 * to be looked at, instead of being retried for days or completed as if it had run.
 */
function checked<N extends JobName>(deps: WorkerDeps, job: N, handler: (payload: JobPayloads[N], helpers: JobHelpers) => Promise<void>): Task {
  return async (raw, helpers) => {
    let payload: JobPayloads[N];
    try {
      payload = parseJobPayload(job, raw);
    } catch (err) {
      if (!(err instanceof JobPayloadError)) throw err;
      // graphile-worker picks a job again only while attempts < max_attempts; the job row is ours
      // (we hold its lock). The in-memory job follows, so graphile-worker reports it failed (metrics).
      await sql`update graphile_worker._private_jobs set max_attempts = attempts where id = ${helpers.job.id}`.execute(deps.db);
      helpers.job.max_attempts = helpers.job.attempts;
      deps.log.error({ job, job_id: helpers.job.id, issues: err.issues }, 'job payload refused: the job failed for good without running');
      throw err;
    }
    await handler(payload, helpers);
  };
}

export function taskList(deps: WorkerDeps): TaskList {
  const checkout = checkoutFromConfig(deps.config);
  const push = pushFromConfig(deps.config);
  const webhookSender = webhookSenderFromConfig(deps.config);
  const tasks: { [N in JobName]: Task } = {
    cleanup: checked(deps, 'cleanup', async () => {
      const result = await cleanup(deps.db);
      deps.log.info({ job: 'cleanup', ...result }, 'cleanup done');
    }),
    reminder_fire: checked(deps, 'reminder_fire', async (p) => {
      await reminderFire(deps, p, (reminderId, outcome) => {
        const batch = reminderId === p.reminderId ? {} : { by_job_of: p.reminderId };
        deps.log.info({ job: 'reminder_fire', reminder_id: reminderId, outcome, ...batch }, 'reminder fired');
      });
    }),
    recurring_task_generate: checked(deps, 'recurring_task_generate', async (p, helpers) => {
      try {
        const outcome = await recurringTaskGenerate(deps, p);
        deps.log.info({ job: 'recurring_task_generate', template_id: p.templateId, completed_task_id: p.completedTaskId, outcome }, 'recurring generation done');
      } catch (err) {
        // The completion that enqueued us stands; graphile-worker retries with backoff.
        deps.log.error({ err, job: 'recurring_task_generate', template_id: p.templateId, completed_task_id: p.completedTaskId, attempt: helpers.job.attempts }, 'recurring generation failed; will retry');
        throw err;
      }
    }),
    // issue #5
    push_deliver: checked(deps, 'push_deliver', async (p) => {
      const outcome = await pushDeliver({ db: deps.db, push, log: deps.log }, p);
      deps.log.info({ job: 'push_deliver', notification_id: p.notificationId, subscription_id: p.subscriptionId ?? null, outcome }, 'push delivery');
    }),
    // issue 19: outgoing webhooks (the domain logs each attempt's outcome)
    webhook_deliver: checked(deps, 'webhook_deliver', async (p) => {
      await webhookDeliver({ db: deps.db, sender: webhookSender, log: deps.log }, p);
    }),
    subscription_check: checked(deps, 'subscription_check', async (p) => {
      const result = await subscriptionCheck({ db: deps.db, config: deps.config, checkout, log: deps.log }, p);
      deps.log.info({ job: 'subscription_check', ...result }, 'subscriptions checked');
    }),
    daily_credit_grant: checked(deps, 'daily_credit_grant', async (p) => {
      const result = await dailyCreditGrant(deps, p);
      deps.log.info({ job: 'daily_credit_grant', ...result }, 'daily credits granted');
    }),
    streak_calculate: checked(deps, 'streak_calculate', async (p) => {
      const reset = await streakCalculate(deps, p);
      deps.log.info({ job: 'streak_calculate', reset }, 'broken streaks reset');
    }),
  };
  return tasks;
}

/**
 * The readiness probe reads this row: a worker that stops beating is a worker that is gone. The
 * time is the database's, the clock `locked_at` and the sweep below use.
 */
async function beat(deps: WorkerDeps, workerId: string): Promise<void> {
  await deps.db
    .insertInto('worker_heartbeats')
    .values({ worker_id: workerId, hostname: os.hostname(), pid: process.pid, beat_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .onConflict((oc) => oc.column('worker_id').doUpdateSet({ beat_at: sql<Date>`now()`, updated_at: sql<Date>`now()` }))
    .execute();
}

/**
 * Unlocks the jobs of workers that are gone. A worker killed mid-job (SIGKILL, OOM, a lost host)
 * leaves its jobs locked, and graphile-worker only frees such locks after 4 hours (hard-coded in
 * 0.17): a reminder would fire hours late. A job whose lock is older than `staleSeconds` and whose
 * worker has not beaten for as long is freed now and runs again on a live worker; every handler is
 * idempotent (jobs run at least once), so a worker that was only slow costs a repeated run, never
 * a double effect. Returns the workers whose jobs were freed.
 */
export async function unlockJobsOfDeadWorkers(db: Database, staleSeconds: number): Promise<string[]> {
  const { rows } = await sql<{ worker_id: string }>`
    with dead as (
      select distinct j.locked_by as worker_id
      from graphile_worker._private_jobs j
      where j.locked_at < now() - make_interval(secs => ${staleSeconds})
        and not exists (select 1 from worker_heartbeats h where h.worker_id = j.locked_by and h.beat_at >= now() - make_interval(secs => ${staleSeconds}))
    ), freed as (
      select graphile_worker.force_unlock_workers(array(select worker_id from dead))
    )
    select worker_id from dead, freed`.execute(db);
  return rows.map((r) => r.worker_id);
}

/** graphile-worker's own messages, as structured lines of our logger instead of console output. */
function workerLogger(log: WorkerDeps['log']): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    const line = { ...scope, ...meta, component: 'graphile-worker' };
    if (level === 'error') log.error(line, message);
    else if (level === 'warning') log.warn(line, message);
    else if (level === 'info') log.info(line, message);
    else log.debug(line, message);
  });
}

/** Starts graphile-worker with our tasks, cron and heartbeat. Used by jobs/worker.ts and by tests. */
export async function startWorker(deps: WorkerDeps, opts: { handleSignals?: boolean } = {}): Promise<RunningWorker> {
  // The domain events jobs raise (generated recurring instances raise task.created), with the
  // handlers the API wires too (src/app.ts).
  domainEvents.wire(domainSubscribers);
  // The pool's id is what graphile-worker writes into `locked_by`; the heartbeat is keyed by it.
  const events: WorkerEvents = new EventEmitter();
  const metrics = createWorkerMetrics();
  metrics.observe(events);
  let poolId: string | undefined;
  events.on('pool:create', ({ workerPool }) => {
    poolId = workerPool.id;
  });
  const runner = await run({
    pgPool: deps.pool,
    concurrency: deps.config.WORKER_CONCURRENCY,
    pollInterval: deps.config.WORKER_POLL_INTERVAL_MS,
    noHandleSignals: !opts.handleSignals,
    taskList: taskList(deps),
    crontab: CRONTAB,
    logger: workerLogger(deps.log),
    events,
  });
  if (!poolId) {
    await runner.stop();
    throw new Error('graphile-worker did not report its worker pool id');
  }
  const workerId = poolId;
  let metricsServer: MetricsServer | undefined;
  try {
    if (deps.config.WORKER_METRICS_PORT) metricsServer = await serveWorkerMetrics(metrics.registry, deps.config.HOST, deps.config.WORKER_METRICS_PORT);
  } catch (err) {
    await runner.stop();
    throw err;
  }
  await beat(deps, workerId);
  const staleSeconds = deps.config.WORKER_HEARTBEAT_STALE_SECONDS;
  const sweep = async () => {
    const freed = await unlockJobsOfDeadWorkers(deps.db, staleSeconds);
    if (freed.length) deps.log.warn({ workers: freed, stale_seconds: staleSeconds }, 'unlocked the jobs of workers that stopped beating; they run again');
  };
  await sweep().catch((err) => deps.log.warn({ err }, 'unlocking the jobs of dead workers failed'));
  const timer = setInterval(() => {
    beat(deps, workerId)
      .then(sweep)
      .catch((err) => deps.log.warn({ err }, 'worker heartbeat failed'));
  }, deps.config.WORKER_HEARTBEAT_SECONDS * 1000);
  timer.unref();
  let stopped = false;
  return {
    workerId,
    runner,
    metrics,
    metricsUrl: metricsServer?.url,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await metricsServer?.close();
      await runner.stop();
      await deps.db.deleteFrom('worker_heartbeats').where('worker_id', '=', workerId).execute().catch(() => {});
    },
  };
}
