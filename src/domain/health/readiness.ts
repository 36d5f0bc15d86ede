import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database } from '../../../db/index.js';

type Readiness = components['schemas']['Readiness'];

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/** Why a check failed: for the service's log only, never for the probe's caller. */
export type ReadinessProblems = Partial<Record<keyof Readiness['checks'], string>>;

/**
 * Ready when the database answers and some worker sent a heartbeat recently (the worker runs the
 * jobs reminders depend on). The report says only ok/unavailable per check; `problems` says why.
 */
export async function readiness(db: Database, staleAfterSeconds: number): Promise<{ report: Readiness; problems: ReadinessProblems }> {
  try {
    const row = await withTimeout(
      sql<{ age: number | null }>`select extract(epoch from now() - max(beat_at))::float8 as age from worker_heartbeats`.execute(db),
      2_000,
    );
    const age = row.rows[0]?.age ?? null;
    const workerOk = age !== null && age <= staleAfterSeconds;
    return {
      report: { status: workerOk ? 'ok' : 'unavailable', checks: { database: { status: 'ok' }, worker: { status: workerOk ? 'ok' : 'unavailable' } } },
      problems: workerOk ? {} : { worker: age === null ? 'no worker heartbeat yet' : `last heartbeat ${Math.round(age)}s ago` },
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      report: { status: 'unavailable', checks: { database: { status: 'unavailable' }, worker: { status: 'unavailable' } } },
      problems: { database: message, worker: 'database unreachable' },
    };
  }
}
