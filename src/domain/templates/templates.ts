import type { Executor } from '../../../db/index.js';
import type { Priority, TaskTemplateUpdate } from '../../../db/schema/index.js';
import { conflict } from '../../core/errors.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { presentTask, type Task } from '../tasks/present.js';
import { checkDescription, cleanTitle } from '../tasks/rules.js';
import { nextDueAfterChange, requireOccurrence } from './change-recurrence.js';
import { generateInstance } from './generate-instance.js';
import { presentTemplate, type Template } from './present.js';
import { ownedTemplate, userZone } from './queries.js';
import { parseRrule } from './recurrence.js';

export async function listTemplates(db: Executor, { userId, includeInactive, page }: { userId: string; includeInactive: boolean; page: PageParams }) {
  const filtered = () => {
    const q = db.selectFrom('task_templates').where('user_id', '=', userId);
    return includeInactive ? q : q.where('active', '=', true);
  };
  const rows = await filtered().selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute();
  return toPage(rows, page, { present: presentTemplate, countAll: async () => Number((await filtered().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n) });
}

export async function getTemplate(db: Executor, userId: string, templateId: string): Promise<Template> {
  return presentTemplate(await ownedTemplate(db, { userId, templateId }));
}

export interface UpdateTemplateInput {
  title?: string;
  description?: string;
  priority?: Priority;
  rrule?: string;
  estimated_duration?: number | null;
  active?: boolean;
}

/**
 * Changes a template and what later instances copy; instances already generated never change.
 * A new rule keeps the original start and continues after the later of now and the newest
 * instance; pausing clears `next_due`, resuming continues the same way (never repeating an
 * occurrence that already has an instance).
 */
export async function updateTemplate(db: Executor, { actor, templateId, input }: { actor: Actor; templateId: string; input: UpdateTemplateInput }): Promise<Template> {
  const now = new Date();
  return inTransaction(db, async (trx) => {
    const current = await ownedTemplate(trx, { userId: actor.userId, templateId, opts: { forUpdate: true } });
    const limits = await effectiveLimits(trx, actor.userId);
    const changes: TaskTemplateUpdate = {};
    if (input.title !== undefined) changes.title = cleanTitle(input.title);
    if (input.description !== undefined) changes.description = checkDescription(input.description, limits);
    if (input.priority !== undefined) changes.priority = input.priority;
    if (input.estimated_duration !== undefined) changes.estimated_duration = input.estimated_duration;
    const zone = await userZone(trx, actor.userId);
    const active = input.active ?? current.active;
    const rrule = input.rrule?.trim().toUpperCase() ?? current.rrule;
    const rule = parseRrule(rrule);
    if (input.rrule !== undefined) {
      requireOccurrence({ rule, startsAt: current.starts_at, zone });
      changes.rrule = rrule;
    }
    // A new rule or a resume continues after the later of now and the newest instance, so an
    // instance generated before the pause is never repeated.
    if (!active) changes.next_due = null;
    else if (input.rrule !== undefined || !current.active) changes.next_due = await nextDueAfterChange(trx, { template: { ...current, active }, rule, zone, now });
    changes.active = active;
    const row = await trx.updateTable('task_templates').set({ ...changes, updated_at: now }).where('id', '=', templateId).returningAll().executeTakeFirstOrThrow();
    await recordActivity(trx, { userId: actor.userId, entityType: 'template', entityId: templateId, action: 'template_updated', source: actor.source, requestId: actor.requestId, extra: { fields: Object.keys(input) } });
    return presentTemplate(row);
  });
}

/**
 * Deletes a template for good; its instances stay with `template_id: null`. A generation job still
 * waiting for one of its completed instances finds no template and creates nothing.
 */
export async function deleteTemplate(db: Executor, actor: Actor, templateId: string): Promise<{ id: string; deleted: true }> {
  return inTransaction(db, async (trx) => {
    await ownedTemplate(trx, { userId: actor.userId, templateId, opts: { forUpdate: true } });
    await trx.deleteFrom('task_templates').where('id', '=', templateId).execute();
    await recordActivity(trx, { userId: actor.userId, entityType: 'template', entityId: templateId, action: 'template_deleted', source: actor.source, requestId: actor.requestId });
    return { id: templateId, deleted: true as const };
  });
}

/** POST /templates/{id}/generate: the next instance now, even while an earlier one is open. */
export async function generateTemplateInstance(db: Executor, actor: Actor, templateId: string): Promise<Task> {
  const now = new Date();
  return inTransaction(db, async (trx) => {
    // Lock order (locks.ts): the active-task lock the new instance counts under, then the template.
    await lockFor(trx, 'active-tasks', actor.userId);
    const template = await ownedTemplate(trx, { userId: actor.userId, templateId, opts: { forUpdate: true } });
    const row = await generateInstance(trx, { actor, template, limits: await effectiveLimits(trx, actor.userId), now });
    if (!row) throw conflict('The template is inactive or has no more occurrences');
    return presentTask({ ...row, subtask_count: 0, subtask_completed_count: 0 });
  });
}
