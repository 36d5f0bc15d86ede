import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
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

const row = (e: ActivityEntry) => ({
  user_id: e.userId,
  entity_type: e.entityType,
  entity_id: e.entityId,
  action: e.action,
  source: e.source,
  request_id: e.requestId,
  extra_data: JSON.stringify(e.extra ?? {}),
});

const insertOne = compileOnce((v: ReturnType<typeof row>) =>
  shapeBuilder.insertInto('activity_logs').values({ user_id: v.user_id, entity_type: v.entity_type, entity_id: v.entity_id, action: v.action, source: v.source, request_id: v.request_id, extra_data: v.extra_data }),
);

/** recordActivity for many entries at once (one insert). */
export async function recordActivities(db: Executor, entries: ActivityEntry[]): Promise<void> {
  if (entries.length === 0) return;
  if (entries.length === 1) {
    await db.executeQuery(insertOne(row(entries[0]!)));
    return;
  }
  await db.insertInto('activity_logs').values(entries.map(row)).execute();
}
