import { sql } from 'kysely';
import type { Database } from '../../../db/index.js';

/** Waiting and failed (attempts exhausted) jobs per task, from graphile-worker's tables. */
export async function queueStats(db: Database): Promise<{ task: string; queued: number; failed: number }[]> {
  const { rows } = await sql<{ task: string; queued: number; failed: number }>`
    select t.identifier as task,
           count(*) filter (where j.attempts < j.max_attempts) as queued,
           count(*) filter (where j.attempts >= j.max_attempts) as failed
    from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
    group by t.identifier`.execute(db);
  return rows.map((r) => ({ task: r.task, queued: Number(r.queued), failed: Number(r.failed) }));
}
