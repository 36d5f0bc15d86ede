import type { Executor } from '../../../db/index.js';
import type { Priority } from '../../../db/schema/index.js';
import { invalidField } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { insertActiveTask } from '../tasks/create-task.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { checkDescription, cleanTitle, parseInstant } from '../tasks/rules.js';
import { requireOccurrence } from './change-recurrence.js';
import { presentTemplate, type Template } from './present.js';
import { userZone } from './queries.js';
import { nextOccurrence, parseRrule } from './recurrence.js';

export interface CreateTemplateInput {
  title: string;
  description?: string;
  priority?: Priority;
  rrule: string;
  estimated_duration?: number | null;
  starts_at?: string;
}

const DAY_MS = 86_400_000;

/** Occurrences are whole seconds (RFC 5545 has no fractions). */
export const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

/**
 * FR-015: creates a recurring template and, in the same transaction, its first instance — due at
 * the first occurrence at or after the start (or now, when the start has passed). Nothing is created
 * when the instance would pass the active-task limit.
 */
export async function createTemplate(db: Executor, actor: Actor, input: CreateTemplateInput): Promise<Template> {
  const now = new Date();
  const title = cleanTitle(input.title);
  const rule = parseRrule(input.rrule);
  const startsAt = wholeSeconds(input.starts_at === undefined ? now : parseInstant(input.starts_at, 'body.starts_at'));
  // Occurrences are found by iterating from the start: keep it near (and the rule's anchor sane).
  if (startsAt.getTime() < now.getTime() - 366 * DAY_MS || startsAt.getTime() > now.getTime() + 10 * 366 * DAY_MS) {
    throw invalidField('body.starts_at', 'must lie within a year before now and ten years after it');
  }
  return inTransaction(db, async (trx) => {
    const limits = await effectiveLimits(trx, actor.userId);
    const description = checkDescription(input.description ?? '', limits);
    const zone = await userZone(trx, actor.userId);
    requireOccurrence({ rule, startsAt, zone });
    const from = wholeSeconds(now);
    const firstDue = nextOccurrence({ rule, startsAt, zone, after: startsAt.getTime() > from.getTime() ? startsAt : from, inclusive: true });
    if (!firstDue) throw invalidField('body.rrule', 'is not a valid RRULE: it has no occurrence from now on');
    const template = await trx
      .insertInto('task_templates')
      .values({
        user_id: actor.userId,
        title,
        description,
        priority: input.priority ?? 'medium',
        rrule: input.rrule.trim().toUpperCase(),
        starts_at: startsAt,
        estimated_duration: input.estimated_duration ?? null,
        next_due: nextOccurrence({ rule, startsAt, zone, after: firstDue, inclusive: false }),
        active: true,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(trx, { userId: actor.userId, entityType: 'template', entityId: template.id, action: 'template_created', source: actor.source, requestId: actor.requestId });
    await insertActiveTask(
      trx,
      {
        actor,
        values: { template_id: template.id, title, description, priority: template.priority, estimated_duration: template.estimated_duration, due_date: firstDue, created_at: now, updated_at: now },
        limits,
        extra: { template_id: template.id },
      },
    );
    return presentTemplate(template);
  });
}
