import { describe, expect } from 'vitest';
import type { Database } from '../../../db/index.js';
import type { DomainError } from '../../../src/core/errors.js';
import { domainEvents, type DomainEvent } from '../../../src/domain/events/bus.js';
import { createTask, type CreateTaskInput } from '../../../src/domain/tasks/create-task.js';
import { forceCompleteTask } from '../../../src/domain/tasks/force-complete-task.js';
import { getTaskDetail } from '../../../src/domain/tasks/get-task.js';
import { updateTask, type UpdateTaskInput, type UpdateTaskOptions } from '../../../src/domain/tasks/update-task.js';
import { createSubtasks } from '../../../src/domain/subtasks/create-subtasks.js';
import { domainTest as test, newUser } from '../../helpers/domain-tx.js';

// The rules of tasks (FR-007..FR-014, FR-046) on the domain directly: limits, versions, archived,
// completion. tests/tasks/tasks.test.ts keeps one HTTP test per rule for its status and code, plus
// the races (concurrent creation and edits), which need a real pool.

type User = Awaited<ReturnType<typeof newUser>>;
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

const create = (db: Database, u: User, input: Partial<CreateTaskInput> = {}) => createTask(db, u.actor, { title: `Task ${Math.random().toString(36).slice(2, 8)}`, ...input }).then((r) => r.task);
const update = (db: Database, u: User, taskId: string, input: UpdateTaskInput, opts: UpdateTaskOptions = {}) => updateTask(db, { actor: u.actor, taskId, input, opts });
const forceComplete = (db: Database, u: User, taskId: string, version: number, ifMatch?: number) => forceCompleteTask(db, { actor: u.actor, taskId, version, ifMatch });
const detail = (db: Database, u: User, taskId: string) => getTaskDetail(db, u.id, taskId);
/** The DomainError a call throws (fails the test when it resolves). */
const refusal = (p: Promise<unknown>): Promise<DomainError> =>
  p.then(
    () => expect.fail('expected a refusal'),
    (e: DomainError) => e,
  );
const fields = (e: DomainError) => (e.details ?? []).map((d) => d.field);

async function seedTasks(db: Database, userId: string, count: number, values: Record<string, unknown> = {}) {
  await db
    .insertInto('task_instances')
    .values(Array.from({ length: count }, (_, i) => ({ user_id: userId, title: `Seeded ${i}`, created_at: new Date(Date.now() - 3_600_000), updated_at: new Date(), ...values })))
    .execute();
}

const events: DomainEvent[] = [];
domainEvents.subscribe('task.completed', async (_trx, e) => void events.push(e));
const completions = (taskId: string) => events.filter((e) => e.type === 'task.completed' && e.taskId === taskId);

describe('createTask', () => {
  test('trims the title, defaults description and priority, accepts a past due date, version 1', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u, { title: '  Old  ', due_date: '2020-01-01T00:00:00Z' });
    expect(task).toMatchObject({ title: 'Old', description: '', priority: 'medium', due_date: '2020-01-01T00:00:00.000Z', estimated_duration: null, version: 1, completed: false, hidden: false, archived: false });
  });

  test('refuses a due date more than 30 days ahead, a blank title and a free description over 1000', async ({ db }) => {
    const u = await newUser(db);
    expect(fields(await refusal(create(db, u, { due_date: inDays(31) })))).toEqual(['body.due_date']);
    expect(fields(await refusal(create(db, u, { title: '   ' })))).toEqual(['body.title']);
    const long = await refusal(create(db, u, { description: 'd'.repeat(1001) }));
    expect(long).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(fields(long)).toEqual(['body.description']);
    expect(await db.selectFrom('task_instances').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
  });

  test('allows a Pro description of 2000 characters, not 2001', async ({ db }) => {
    const pro = await newUser(db, { tier: 'pro' });
    expect((await create(db, pro, { description: 'd'.repeat(2000) })).description).toHaveLength(2000);
    expect(fields(await refusal(create(db, pro, { description: 'd'.repeat(2001) })))).toEqual(['body.description']);
  });

  test('refuses the 51st active task of a free user with LIMIT_EXCEEDED and the limit; hidden and completed tasks do not count', async ({ db }) => {
    const u = await newUser(db);
    await seedTasks(db, u.id, 49);
    await seedTasks(db, u.id, 3, { hidden: true });
    await seedTasks(db, u.id, 3, { completed: true, completed_at: new Date(), completed_by: 'manual' });
    await create(db, u);
    expect(await refusal(create(db, u))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 50 } });
    expect(await db.selectFrom('task_instances').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', u.id).executeTakeFirstOrThrow()).toEqual({ n: 56 });
  });

  test('gives Pro 200 active tasks', async ({ db }) => {
    const pro = await newUser(db, { tier: 'pro' });
    await seedTasks(db, pro.id, 199);
    await create(db, pro);
    expect(await refusal(create(db, pro))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 200 } });
  });
});

describe('updateTask: versions', () => {
  test('an edit with the current version raises it; a stale one is CONFLICT with current_version and changes nothing', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u, { due_date: inDays(1) });
    const edited = await update(db, u, task.id, { version: 1, title: ' New title ', priority: 'low', description: 'd', estimated_duration: null, due_date: null });
    expect(edited.task).toMatchObject({ title: 'New title', priority: 'low', description: 'd', due_date: null, version: 2 });
    expect(await refusal(update(db, u, task.id, { version: 1, title: 'lost' }))).toMatchObject({ code: 'CONFLICT', extras: { current_version: 2 } });
    expect(await detail(db, u, task.id)).toMatchObject({ title: 'New title', version: 2 });
  });

  test('If-Match alone is a version; a stale one is PRECONDITION_FAILED; with a stale body version too the body wins (CONFLICT)', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    expect((await update(db, u, task.id, { title: 'via If-Match' }, { ifMatch: 1 })).task.version).toBe(2);
    expect(await refusal(update(db, u, task.id, { title: 'lost' }, { ifMatch: 1 }))).toMatchObject({ code: 'PRECONDITION_FAILED', extras: { current_version: 2 } });
    expect((await refusal(update(db, u, task.id, { version: 1, title: 'lost' }, { ifMatch: 2 }))).code).toBe('CONFLICT');
    expect(await detail(db, u, task.id)).toMatchObject({ title: 'via If-Match', version: 2 });
  });

  test('content edits need a version; a body with only a version names nothing', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    expect(fields(await refusal(update(db, u, task.id, { title: 'no version' })))).toEqual(['body.version']);
    expect(fields(await refusal(update(db, u, task.id, { version: 1 })))).toEqual(['body']);
    expect(await detail(db, u, task.id)).toMatchObject({ title: task.title, version: 1 });
  });

  test('checks a version sent with a toggle', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    expect((await refusal(update(db, u, task.id, { completed: true, version: 7 }))).code).toBe('CONFLICT');
    expect((await detail(db, u, task.id)).completed).toBe(false);
  });

  test('an edit that changes nothing keeps the version', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u, { priority: 'high' });
    expect((await update(db, u, task.id, { version: 1, title: task.title, priority: 'high' })).task.version).toBe(1);
  });
});

describe('updateTask: completion, archive, limits', () => {
  test('completes without a version (manual), raises task.completed once, and un-completing clears the fields', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    const done = (await update(db, u, task.id, { completed: true })).task;
    expect(done).toMatchObject({ completed: true, completed_by: 'manual', version: 2 });
    const again = (await update(db, u, task.id, { completed: true })).task;
    expect(again).toMatchObject({ version: 2, completed_at: done.completed_at });
    expect(completions(task.id)).toEqual([expect.objectContaining({ completedBy: 'manual', userId: u.id })]);
    expect((await update(db, u, task.id, { completed: false })).task).toMatchObject({ completed: false, completed_at: null, completed_by: null, version: 3 });
  });

  test('an archived task refuses completion, edits and force-completion (ARCHIVED) but may be hidden and un-archived', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    expect((await update(db, u, task.id, { version: 1, archived: true })).task.archived).toBe(true);
    expect((await refusal(update(db, u, task.id, { completed: true }))).code).toBe('ARCHIVED');
    expect((await refusal(update(db, u, task.id, { version: 2, title: 'nope' }))).code).toBe('ARCHIVED');
    expect((await refusal(forceComplete(db, u, task.id, 2))).code).toBe('ARCHIVED');
    expect((await update(db, u, task.id, { hidden: true })).task.hidden).toBe(true);
    expect((await update(db, u, task.id, { version: 3, archived: false, title: 'back' })).task).toMatchObject({ archived: false, title: 'back', version: 4 });
    expect(completions(task.id)).toHaveLength(0);
  });

  test('refuses archiving and completing in one request', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    expect((await refusal(update(db, u, task.id, { version: 1, archived: true, completed: true }))).code).toBe('ARCHIVED');
  });

  test('keeps a new due date within 30 days of creation and the description within the tier', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    expect(fields(await refusal(update(db, u, task.id, { version: 1, due_date: inDays(31) })))).toEqual(['body.due_date']);
    expect(fields(await refusal(update(db, u, task.id, { version: 1, description: 'd'.repeat(1001) })))).toEqual(['body.description']);
    expect((await update(db, u, task.id, { version: 1, due_date: inDays(29) })).task.version).toBe(2);
  });

  test('checks only a changed description against the tier: a downgraded user can still edit a task with a longer one', async ({ db }) => {
    const u = await newUser(db, { tier: 'pro' });
    const long = 'd'.repeat(1500);
    const task = await create(db, u, { description: long });
    await db.updateTable('users').set({ tier: 'free' }).where('id', '=', u.id).execute();
    expect((await update(db, u, task.id, { version: 1, title: 'Renamed', description: long })).task).toMatchObject({ title: 'Renamed', description: long, version: 2 });
    expect(fields(await refusal(update(db, u, task.id, { version: 2, description: `${long}!` })))).toEqual(['body.description']);
    expect(await detail(db, u, task.id)).toMatchObject({ description: long, version: 2 });
  });

  test('refuses to un-hide or un-complete past the active-task limit', async ({ db }) => {
    const u = await newUser(db);
    const hidden = await create(db, u);
    await update(db, u, hidden.id, { hidden: true });
    const done = await create(db, u);
    await update(db, u, done.id, { completed: true });
    await seedTasks(db, u.id, 50);
    expect(await refusal(update(db, u, hidden.id, { hidden: false }))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 50 } });
    expect((await refusal(update(db, u, done.id, { completed: false }))).code).toBe('LIMIT_EXCEEDED');
    expect(await detail(db, u, hidden.id)).toMatchObject({ hidden: true, version: 2 });
  });

  test('refuses rrule on a task that is not a recurring instance, and rrule without apply_to', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    expect(fields(await refusal(update(db, u, task.id, { version: 1, rrule: 'FREQ=DAILY', apply_to: 'template' })))).toEqual(['body.rrule']);
    expect(fields(await refusal(update(db, u, task.id, { version: 1, rrule: 'FREQ=DAILY' })))).toEqual(['body.apply_to']);
  });

  test('another user\'s task is FORBIDDEN and unchanged; a missing one NOT_FOUND', async ({ db }) => {
    const u = await newUser(db);
    const other = await newUser(db);
    const task = await create(db, u);
    expect((await refusal(update(db, other, task.id, { completed: true }))).code).toBe('FORBIDDEN');
    expect((await refusal(update(db, other, task.id, { version: 1, title: 'mine' }))).code).toBe('FORBIDDEN');
    expect((await refusal(forceComplete(db, other, task.id, 1))).code).toBe('FORBIDDEN');
    expect(await detail(db, u, task.id)).toMatchObject({ completed: false, title: task.title, version: 1 });
    expect((await refusal(update(db, u, '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d', { completed: true }))).code).toBe('NOT_FOUND');
  });
});

describe('forceCompleteTask', () => {
  test('completes the task and its open subtasks with one timestamp, keeps earlier completions, answers the streak', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    const { subtasks } = await createSubtasks(db, { actor: u.actor, taskId: task.id, titles: ['a', 'b'], source: 'user' });
    const earlier = new Date(Date.now() - 60_000);
    await db.updateTable('subtasks').set({ completed: true, completed_at: earlier }).where('id', '=', subtasks[0]!.id).execute();
    const res = await forceComplete(db, u, task.id, 1);
    expect(res).toMatchObject({ unlockedAchievements: [], streak: 1 });
    expect(res.task).toMatchObject({ completed: true, completed_by: 'force', version: 2, subtask_count: 2, subtask_completed_count: 2 });
    const byId = Object.fromEntries((await detail(db, u, task.id)).subtasks.map((s) => [s.id, s.completed_at]));
    expect(byId[subtasks[1]!.id]).toBe(res.task.completed_at);
    expect(byId[subtasks[0]!.id]).toBe(earlier.toISOString());
    expect(completions(task.id)).toEqual([expect.objectContaining({ completedBy: 'force' })]);
  });

  test('a stale version is CONFLICT, a stale If-Match PRECONDITION_FAILED, a completed task CONFLICT; nothing changes', async ({ db }) => {
    const u = await newUser(db);
    const task = await create(db, u);
    await createSubtasks(db, { actor: u.actor, taskId: task.id, titles: ['s'], source: 'user' });
    expect(await refusal(forceComplete(db, u, task.id, 2))).toMatchObject({ code: 'CONFLICT', extras: { current_version: 1 } });
    expect((await refusal(forceComplete(db, u, task.id, 1, 3))).code).toBe('PRECONDITION_FAILED');
    expect(await detail(db, u, task.id)).toMatchObject({ completed: false, subtask_completed_count: 0, version: 1 });
    await update(db, u, task.id, { completed: true });
    const again = await refusal(forceComplete(db, u, task.id, 2));
    expect(again.code).toBe('CONFLICT');
    expect(again.message).toMatch(/already completed/);
    expect(completions(task.id)).toHaveLength(1);
  });
});
