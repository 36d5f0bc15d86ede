import type { Executor } from '../../../db/index.js';
import type { ActivitySource } from '../../../db/schema/index.js';

export interface ActivityEntry {
  userId: string;
  entityType: string;
  entityId: string;
  action: string;
  source: ActivitySource;
  requestId: string | null;
  extra?: Record<string, unknown>;
}

/** Writes one activity-log entry; call it inside the transaction of the change it records. */
export async function recordActivity(db: Executor, e: ActivityEntry): Promise<void> {
  await recordActivities(db, [e]);
}

/** recordActivity for many entries at once (one insert). */
export async function recordActivities(db: Executor, entries: ActivityEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db
    .insertInto('activity_logs')
    .values(
      entries.map((e) => ({
        user_id: e.userId,
        entity_type: e.entityType,
        entity_id: e.entityId,
        action: e.action,
        source: e.source,
        request_id: e.requestId,
        extra_data: JSON.stringify(e.extra ?? {}),
      })),
    )
    .execute();
}
