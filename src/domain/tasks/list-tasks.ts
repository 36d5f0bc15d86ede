import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import type { Priority } from '../../../db/schema/index.js';
import { invalidField } from '../../http/errors.js';
import { toPage, type PageParams } from '../../http/pagination.js';
import { presentTask } from './present.js';
import { subtaskCounts, type TaskWithCounts } from './queries.js';
import { parseInstant } from './rules.js';

export interface TaskFilters {
  completed?: boolean;
  priority?: Priority;
  /** Omitted or false: visible tasks only; true: hidden tasks only. */
  hidden?: boolean;
  due_before?: string;
  due_after?: string;
}

/**
 * A page of the user's tasks, newest first. The page is chosen first and only its rows get their
 * subtask counts; the total is a separate count when the page cannot tell it (see toPage), so the
 * cost does not grow with the user's history.
 */
export async function listTasks(db: Executor, userId: string, f: TaskFilters, page: PageParams) {
  const dueBefore = f.due_before === undefined ? undefined : parseInstant(f.due_before, 'query.due_before');
  const dueAfter = f.due_after === undefined ? undefined : parseInstant(f.due_after, 'query.due_after');
  if (dueBefore && dueAfter && dueAfter.getTime() > dueBefore.getTime()) throw invalidField('query.due_after', 'must not be later than due_before');

  const filtered = () => {
    let q = db.selectFrom('task_instances').where('user_id', '=', userId).where('hidden', '=', f.hidden ?? false);
    if (f.completed !== undefined) q = q.where('completed', '=', f.completed);
    if (f.priority !== undefined) q = q.where('priority', '=', f.priority);
    if (dueBefore) q = q.where('due_date', '<=', dueBefore);
    if (dueAfter) q = q.where('due_date', '>=', dueAfter);
    return q;
  };
  const pageRows = filtered()
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .offset(page.offset)
    .limit(page.limit);
  const rows = (await db
    .selectFrom(pageRows.as('t'))
    .leftJoinLateral(() => subtaskCounts(db).as('c'), (join) => join.onTrue())
    .selectAll('t')
    .select(['c.subtask_count', 'c.subtask_completed_count'])
    .orderBy('t.created_at', 'desc')
    .orderBy('t.id', 'desc')
    .execute()) as TaskWithCounts[];
  return toPage(rows, page, presentTask, async () =>
    Number((await filtered().select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow()).n),
  );
}
