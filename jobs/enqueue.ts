import { sql } from 'kysely';
import type { Executor } from '../db/index.js';
import { compileOnce } from '../db/query-shapes.js';
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
  await db.executeQuery(addJob({ name, payload: JSON.stringify(checked), runAt: opts.runAt ?? null, maxAttempts: opts.maxAttempts ?? null, jobKey: opts.jobKey ?? null, jobKeyMode: opts.jobKeyMode ?? 'replace' }));
}

const addJob = compileOnce(
  (v: { name: string; payload: string; runAt: Date | null; maxAttempts: number | null; jobKey: string | null; jobKeyMode: string }) => sql`select graphile_worker.add_job(
    ${v.name}::text,
    ${v.payload}::json,
    run_at => ${v.runAt}::timestamptz,
    max_attempts => ${v.maxAttempts}::int,
    job_key => ${v.jobKey}::text,
    job_key_mode => ${v.jobKeyMode}::text
  )`,
);

const removeByKey = compileOnce((v: { jobKey: string }) => sql`select graphile_worker.remove_job(${v.jobKey}::text)`);

/** Removes a waiting job by key (no-op when none); a job already running finishes. */
export async function removeJob(db: Executor, jobKey: string): Promise<void> {
  await db.executeQuery(removeByKey({ jobKey }));
}
