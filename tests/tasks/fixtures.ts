import { sql } from 'kysely';
import { expect } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import type { TestUser } from '../helpers/users.js';

// Shared by the tests of tasks, subtasks, templates, reminders, notifications and recovery.

export const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
export const inMinutes = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

/** Creates a task through the API and answers its body. */
export async function newTask(user: TestUser, body: Record<string, unknown> = {}): Promise<any> {
  const res = await user.api.post('/tasks', { title: `Task ${Math.random().toString(36).slice(2, 8)}`, ...body });
  expect(res.status, res.text).toBe(201);
  return res.body.data;
}

export async function newSubtask(user: TestUser, taskId: string, title = 'Step'): Promise<any> {
  const res = await user.api.post(`/tasks/${taskId}/subtasks`, { title });
  expect(res.status, res.text).toBe(201);
  return res.body.data;
}

/** Inserts open tasks straight into the database, to bring a user near a limit quickly. */
export async function seedTasks(t: TestApp, userId: string, count: number, values: Record<string, unknown> = {}): Promise<void> {
  if (count <= 0) return;
  await t.db
    .insertInto('task_instances')
    .values(Array.from({ length: count }, (_, i) => ({ user_id: userId, title: `Seeded ${i}`, created_at: new Date(Date.now() - 3_600_000), updated_at: new Date(), ...values })))
    .execute();
}

export const activity = (t: TestApp, userId: string, action?: string) => {
  let q = t.db.selectFrom('activity_logs').selectAll().where('user_id', '=', userId);
  if (action) q = q.where('action', '=', action);
  return q.orderBy('created_at').execute();
};

/** Waiting jobs of a task type (optionally one key), as graphile-worker stores them. */
export async function jobs(t: TestApp, task: string, key?: string) {
  const r = await sql<{ key: string | null; run_at: Date; payload: any; attempts: number; last_error: string | null; locked_at: Date | null }>`
    select j.key, j.run_at, j.payload, j.attempts, j.last_error, j.locked_at from graphile_worker._private_jobs j
    join graphile_worker._private_tasks t on t.id = j.task_id
    where t.identifier = ${task} and (${key ?? null}::text is null or j.key = ${key ?? null})`.execute(t.db);
  return r.rows;
}
