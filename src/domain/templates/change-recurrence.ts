import type { Executor } from '../../../db/index.js';
import type { TaskRow, TaskTemplateRow } from '../../../db/schema/index.js';
import { invalidField } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { newestInstanceDue, userZone } from './queries.js';
import { nextOccurrence, parseRrule, type RuleOptions } from './recurrence.js';

export type ApplyTo = 'this_and_future' | 'template';

const latest = (...dates: (Date | null)[]) => new Date(Math.max(...dates.filter((d): d is Date => d !== null).map((d) => d.getTime())));

/** A rule must have at least one occurrence from its start on (400 naming `field`). */
export function requireOccurrence({ rule, startsAt, zone, field = 'body.rrule' }: { rule: RuleOptions; startsAt: Date; zone: string; field?: string }): void {
  if (!nextOccurrence({ rule, startsAt, zone, after: startsAt, inclusive: true })) throw invalidField(field, 'is not a valid RRULE: it has no occurrence from the start on');
}

/**
 * The template's next due date after a change of rule or a resume: the first occurrence after the
 * later of now and its newest instance's due date (null when inactive or exhausted).
 */
export async function nextDueAfterChange(trx: Executor, { template, rule, zone, now }: { template: Pick<TaskTemplateRow, 'id' | 'starts_at' | 'active'>; rule: RuleOptions; zone: string; now: Date }): Promise<Date | null> {
  if (!template.active) return null;
  const after = latest(now, await newestInstanceDue(trx, template.id));
  return nextOccurrence({ rule, startsAt: template.starts_at, zone, after, inclusive: false });
}

/**
 * Edits the recurrence of an open recurring instance (US3-AS2) and answers the template id the task
 * belongs to afterwards. `template` changes the series' rule; `this_and_future` starts a new series
 * at this task (a copy of the template with the new rule) and deactivates the old one, which the
 * earlier instances keep. The caller has checked that the task is an open instance.
 */
export async function changeRecurrence(trx: Executor, { actor, task, rrule, applyTo, now }: { actor: Actor; task: TaskRow; rrule: string; applyTo: ApplyTo; now: Date }): Promise<string> {
  const rule = parseRrule(rrule);
  const template = await trx.selectFrom('task_templates').selectAll().where('id', '=', task.template_id!).forUpdate().executeTakeFirst();
  if (!template) throw invalidField('body.rrule', 'the task is not an instance of a recurring template');
  const zone = await userZone(trx, actor.userId);
  const value = rrule.trim().toUpperCase();

  if (applyTo === 'template') {
    requireOccurrence({ rule, startsAt: template.starts_at, zone });
    await trx
      .updateTable('task_templates')
      .set({ rrule: value, next_due: await nextDueAfterChange(trx, { template, rule, zone, now }), updated_at: now })
      .where('id', '=', template.id)
      .execute();
    await recordActivity(trx, { userId: actor.userId, entityType: 'template', entityId: template.id, action: 'template_updated', source: actor.source, requestId: actor.requestId, extra: { fields: ['rrule'], via_task: task.id } });
    return template.id;
  }

  const startsAt = task.due_date ?? now;
  requireOccurrence({ rule, startsAt, zone });
  const series = await trx
    .insertInto('task_templates')
    .values({
      user_id: actor.userId,
      title: template.title,
      description: template.description,
      priority: template.priority,
      rrule: value,
      starts_at: startsAt,
      estimated_duration: template.estimated_duration,
      // this task is the series' current instance; the next one follows it
      next_due: nextOccurrence({ rule, startsAt, zone, after: latest(startsAt, now), inclusive: false }),
      active: true,
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await trx.updateTable('task_templates').set({ active: false, next_due: null, updated_at: now }).where('id', '=', template.id).execute();
  await recordActivity(trx, { userId: actor.userId, entityType: 'template', entityId: series.id, action: 'template_created', source: actor.source, requestId: actor.requestId, extra: { split_from: template.id, via_task: task.id } });
  await recordActivity(trx, { userId: actor.userId, entityType: 'template', entityId: template.id, action: 'template_updated', source: actor.source, requestId: actor.requestId, extra: { fields: ['active'], superseded_by: series.id } });
  return series.id;
}
