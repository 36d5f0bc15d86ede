import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database } from '../../../db/index.js';

type Readiness = components['schemas']['Readiness'];

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/** Ready when the database answers and some worker sent a heartbeat recently (the worker runs the jobs reminders depend on). */
export async function readiness(db: Database, staleAfterSeconds: number): Promise<Readiness> {
  try {
    const row = await withTimeout(
      sql<{ age: number | null }>`select extract(epoch from now() - max(beat_at))::float8 as age from worker_heartbeats`.execute(db),
      2_000,
    );
    const age = row.rows[0]?.age ?? null;
    const workerOk = age !== null && age <= staleAfterSeconds;
    return {
      status: workerOk ? 'ok' : 'unavailable',
      checks: {
        database: { status: 'ok', message: null },
        worker: {
          status: workerOk ? 'ok' : 'fail',
          message: age === null ? 'no worker heartbeat yet' : `last heartbeat ${Math.round(age)}s ago`,
        },
      },
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      status: 'unavailable',
      checks: { database: { status: 'fail', message }, worker: { status: 'fail', message: 'database unreachable' } },
    };
  }
}
