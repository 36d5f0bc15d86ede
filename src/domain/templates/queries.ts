import type { Executor } from '../../../db/index.js';
import type { TaskTemplateRow } from '../../../db/schema/index.js';
import { forbidden, notFound } from '../../core/errors.js';

/** The caller's template: 404 when there is none, 403 when it is another user's. */
export async function ownedTemplate(db: Executor, { userId, templateId, opts = {} }: { userId: string; templateId: string; opts?: { forUpdate?: boolean } }): Promise<TaskTemplateRow> {
  let q = db.selectFrom('task_templates').selectAll().where('id', '=', templateId);
  if (opts.forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (!row) throw notFound('Template');
  if (row.user_id !== userId) throw forbidden();
  return row;
}

/** The zone occurrences are computed in: the user's profile time zone. */
export async function userZone(db: Executor, userId: string): Promise<string> {
  const u = await db.selectFrom('users').select('timezone').where('id', '=', userId).executeTakeFirst();
  return u?.timezone ?? 'UTC';
}

/** The latest due date among the template's instances, or null. */
export async function newestInstanceDue(db: Executor, templateId: string): Promise<Date | null> {
  const r = await db
    .selectFrom('task_instances')
    .select((eb) => eb.fn.max('due_date').as('due'))
    .where('template_id', '=', templateId)
    .executeTakeFirst();
  return (r?.due as Date | null | undefined) ?? null;
}
