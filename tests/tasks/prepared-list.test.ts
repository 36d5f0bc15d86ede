import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../db/index.js';
import { listTasks } from '../../src/domain/tasks/list-tasks.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { seedTasks } from './fixtures.js';

// GET /tasks runs its two statements as named prepared statements. A prepared `select *` breaks
// ("cached plan must not change result type") on every connection that prepared it once a
// migration adds a column, as happens during a rolling deploy: the statements name their columns.

let t: TestApp;
let one: DatabaseHandle; // a pool of one connection, so the statements it prepared can be seen
let u: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  one = createDatabase(t.databaseUrl, { max: 1 });
  u = await signUp(t);
  await seedTasks(t, u.id, 30);
});
afterAll(async () => {
  await one?.close();
  await t?.close();
});

const page = () => listTasks(one.db, { userId: u.id, filter: {}, page: { offset: 0, limit: 25 } });
const preparedOnThatConnection = async () =>
  (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(one.db)).rows.filter((r) => r.statement.includes('"task_instances"'));

describe('GET /tasks statements', () => {
  it('are prepared once per connection and keep working after a migration adds a column to the table', async () => {
    const before = await page();
    expect(before.data).toHaveLength(25);
    expect(before.pagination.total).toBe(30);
    expect(await preparedOnThatConnection()).toHaveLength(2); // the page and the count
    expect((await u.api.get('/tasks')).status).toBe(200);

    await sql`alter table task_instances add column added_by_a_later_migration int not null default 7`.execute(t.db);
    try {
      const after = await page();
      expect(after.data.map((task) => task.id)).toEqual(before.data.map((task) => task.id));
      expect(after.data[0]).not.toHaveProperty('added_by_a_later_migration');
      expect(await preparedOnThatConnection()).toHaveLength(2); // still the same two statements
      const res = await u.api.get('/tasks');
      expect(res.status, res.text).toBe(200);
      expect(res.body.pagination.total).toBe(30);
    } finally {
      await sql`alter table task_instances drop column added_by_a_later_migration`.execute(t.db);
    }
    expect((await page()).data).toHaveLength(25);
  });

  it('and the task, subtask and reminder writes keep working on a running API after a migration adds a column to each table', async () => {
    // Each statement a pool sends twice is prepared by name (db/index.ts), so run the round twice first.
    const round = async () => {
      const created = await u.api.post('/tasks', { title: 'Prepared round', due_date: new Date(Date.now() + 3 * 86_400_000).toISOString() });
      expect(created.status, created.text).toBe(201);
      const id = created.body.data.id as string;
      const steps = [
        await u.api.post(`/tasks/${id}/subtasks`, { title: 'A step' }),
        await u.api.patch(`/tasks/${id}`, { version: created.body.data.version, title: 'Prepared round, renamed' }),
        await u.api.post(`/tasks/${id}/reminders`, { type: 'before', offset_minutes: -30, method: 'in_app' }),
        await u.api.get(`/tasks/${id}`),
        await u.api.get(`/tasks/${id}/subtasks`),
        await u.api.get(`/reminders?task_id=${id}`),
        await u.api.patch(`/tasks/${id}`, { completed: true }),
        await u.api.delete(`/tasks/${id}`),
      ];
      for (const res of steps) expect(res.status, res.text).toBeLessThan(300);
      const detail = steps[3]!.body.data;
      expect(detail.subtasks).toHaveLength(1);
      expect(detail.reminders).toHaveLength(1);
      expect(detail).not.toHaveProperty('added_by_a_later_migration');
    };
    await round();
    await round();
    const tables = ['task_instances', 'subtasks', 'reminders'];
    for (const table of tables) await sql`alter table ${sql.table(table)} add column added_by_a_later_migration int not null default 7`.execute(t.db);
    try {
      await round();
    } finally {
      for (const table of tables) await sql`alter table ${sql.table(table)} drop column added_by_a_later_migration`.execute(t.db);
    }
  });
});
