import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import type { Selectable } from 'kysely';
import type { ActivityLogsTable, ActivitySource } from '../../../db/schema/index.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { iso } from '../time.js';

type ActivityLog = components['schemas']['ActivityLog'];
export type ActivityEntityType = components['schemas']['ActivityEntityType'];

export interface ActivityFilter {
  entityType?: ActivityEntityType;
  entityId?: string;
  action?: string;
  source?: ActivitySource;
}

type ActivityLogRow = Pick<Selectable<ActivityLogsTable>, 'id' | 'user_id' | 'entity_type' | 'entity_id' | 'action' | 'source' | 'extra_data' | 'request_id' | 'created_at'>;

/** An activity entry as the API shows it (GET /activity, the account export). */
export const presentActivity = (r: ActivityLogRow): ActivityLog => ({
  id: r.id,
  user_id: r.user_id,
  entity_type: r.entity_type as ActivityEntityType,
  entity_id: r.entity_id,
  action: r.action,
  source: r.source,
  extra_data: r.extra_data ?? {},
  request_id: r.request_id,
  created_at: iso(r.created_at),
});

/** The caller's activity, newest first, filtered. */
export async function listActivity(db: Executor, { userId, filter, page }: { userId: string; filter: ActivityFilter; page: PageParams }) {
  const base = db
    .selectFrom('activity_logs')
    .where('user_id', '=', userId)
    .$if(filter.entityType !== undefined, (q) => q.where('entity_type', '=', filter.entityType!))
    .$if(filter.entityId !== undefined, (q) => q.where('entity_id', '=', filter.entityId!))
    .$if(filter.action !== undefined, (q) => q.where('action', '=', filter.action!))
    .$if(filter.source !== undefined, (q) => q.where('source', '=', filter.source!));
  const rows = await base
    .select(['id', 'user_id', 'entity_type', 'entity_id', 'action', 'source', 'extra_data', 'request_id', 'created_at'])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .offset(page.offset)
    .limit(page.limit)
    .execute();
  return toPage(rows, page, { present: presentActivity, countAll: async () => Number((await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n) });
}
