import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import type { Priority } from '../../../db/schema/index.js';
import { forbidden, notFound } from '../../core/errors.js';

// What the assistant may see of the caller's tasks. Every query is the caller's rows only: a prompt
// never carries another user's data.

export interface PromptTask {
  id: string;
  title: string;
  description: string;
  priority: Priority;
  due_date: Date | null;
  estimated_duration: number | null;
  completed: boolean;
  archived: boolean;
  version: number;
}

export interface PromptSubtask {
  title: string;
  completed: boolean;
}

const TASK_COLUMNS = ['id', 'user_id', 'title', 'description', 'priority', 'due_date', 'estimated_duration', 'completed', 'archived', 'version'] as const;

/** The task a request is about: 404 when missing, 403 when it is another user's. */
export async function ownTaskForPrompt(db: Executor, userId: string, taskId: string): Promise<PromptTask & { subtasks: PromptSubtask[] }> {
  const row = await db.selectFrom('task_instances').select(TASK_COLUMNS).where('id', '=', taskId).executeTakeFirst();
  if (!row) throw notFound('Task');
  if (row.user_id !== userId) throw forbidden();
  const subtasks = await db.selectFrom('subtasks').select(['title', 'completed']).where('task_id', '=', taskId).orderBy('order_index').execute();
  const { user_id: _owner, ...task } = row;
  return { ...task, subtasks };
}

/** Up to `limit` of the caller's open, visible tasks: earliest due first, undated last. */
export async function openTasksForPrompt(db: Executor, userId: string, limit: number): Promise<PromptTask[]> {
  return db
    .selectFrom('task_instances')
    .select(['id', 'title', 'description', 'priority', 'due_date', 'estimated_duration', 'completed', 'archived', 'version'])
    .where('user_id', '=', userId)
    .where('completed', '=', false)
    .where('hidden', '=', false)
    .orderBy(sql`due_date asc nulls last`)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
}
