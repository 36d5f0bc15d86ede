import { sql } from 'kysely';
import type { Executor } from '../db/index.js';
import { parseJobPayload, type JobName, type JobPayloads } from './names.js';

export interface EnqueueOptions {
  runAt?: Date;
  /** One job per key: enqueueing again with the same key replaces the waiting job. */
  jobKey?: string;
  jobKeyMode?: 'replace' | 'preserve_run_at' | 'unsafe_dedupe';
  maxAttempts?: number;
}

/**
 * Adds a graphile-worker job through SQL on the caller's executor, so a job enqueued inside a
 * business transaction exists exactly when that transaction commits. The payload is checked against
 * the job's schema first (jobs/names.ts): a malformed one throws a JobPayloadError in the
 * transaction of the change, instead of a job that can only fail.
 */
export async function enqueueJob<N extends JobName>(db: Executor, job: { name: N; payload: JobPayloads[N] } & EnqueueOptions): Promise<void> {
  const { name, ...opts } = job;
  const checked = parseJobPayload(name, job.payload);
  await sql`select graphile_worker.add_job(
    ${name}::text,
    ${JSON.stringify(checked)}::json,
    run_at => ${opts.runAt ?? null}::timestamptz,
    max_attempts => ${opts.maxAttempts ?? null}::int,
    job_key => ${opts.jobKey ?? null}::text,
    job_key_mode => ${opts.jobKeyMode ?? 'replace'}::text
  )`.execute(db);
}

/** Removes a waiting job by key (no-op when none); a job already running finishes. */
export async function removeJob(db: Executor, jobKey: string): Promise<void> {
  await sql`select graphile_worker.remove_job(${jobKey}::text)`.execute(db);
}
