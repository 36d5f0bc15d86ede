import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotification } from '../../src/domain/notifications/create-notification.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { inDays, newSubtask, newTask } from '../tasks/fixtures.js';
import { Replica, serverState, settled } from './replica.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const sync = (u: TestUser, cursor?: string, limit?: number) => u.api.get('/sync', { query: { cursor, limit } });
const newNote = async (u: TestUser, content: string) => {
  const res = await u.api.post('/notes', { content });
  expect(res.status, res.text).toBe(201);
  return res.body.data;
};
const notify = (u: TestUser, title: string) => createNotification(t.db, { userId: u.id, type: 'system', title, body: '' });
const changeCount = async (u: TestUser) =>
  Number((await t.db.selectFrom('sync_changes').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', u.id).executeTakeFirstOrThrow()).n);

describe('a first sync without cursor', () => {
  it('pages through everything of the user in the shapes of the other endpoints, then continues with changes', async () => {
    const user = await signUp(t, { tier: 'pro' });
    const other = await signUp(t);
    const tasks = [];
    for (let i = 0; i < 4; i++) tasks.push(await newTask(user, { title: `Task ${i}`, due_date: inDays(2) }));
    await newSubtask(user, tasks[0].id, 'First step');
    await newSubtask(user, tasks[0].id, 'Second step');
    expect((await user.api.post(`/tasks/${tasks[1].id}/reminders`, { type: 'before', offset_minutes: -30 })).status).toBe(201);
    await newNote(user, 'A note');
    await notify(user, 'Welcome');
    await newTask(other, { title: 'Not yours' });
    await newNote(other, 'Not yours either');

    const replica = new Replica(t, user);
    await replica.sync({ limit: 3 });
    expect(replica.pages).toBeGreaterThanOrEqual(3); // 9 entities, 3 a page
    expect(replica.plain()).toEqual(await serverState(user));
    expect(replica.copy.task.get(tasks[0].id)).toMatchObject({ subtask_count: 2, subtask_completed_count: 0 });

    // Nothing changed: an empty page with a cursor that still works.
    const idle = await sync(user, replica.cursor);
    expect(idle.body.data).toMatchObject({ tasks: [], subtasks: [], reminders: [], notes: [], notifications: [], deletions: [], has_more: false });
    expect((await sync(user, idle.body.data.cursor)).status).toBe(200);
  });
});

describe('changes since a cursor', () => {
  it('sends what changed once per page in its current state, deletions as markers, and recovered entities again', async () => {
    const user = await signUp(t, { tier: 'pro' });
    const task = await newTask(user, { title: 'Draft' });
    const kept = await newTask(user, { title: 'Untouched' });
    const note = await newNote(user, 'Keep me');
    const replica = new Replica(t, user);
    await replica.sync();
    const cursor = replica.cursor!;

    await user.api.patch(`/tasks/${task.id}`, { title: 'Draft 2', version: 1 });
    await user.api.patch(`/tasks/${task.id}`, { title: 'Draft 3', version: 2 });
    const sub = await newSubtask(user, task.id, 'Step');
    await settled(t, user.id);
    const res = await sync(user, cursor);
    expect(res.body.data.tasks).toHaveLength(1);
    expect(res.body.data.tasks[0]).toMatchObject({ id: task.id, title: 'Draft 3', version: 3, subtask_count: 1 });
    expect(res.body.data.subtasks.map((s: any) => s.id)).toEqual([sub.id]);
    expect(res.body.data.tasks.map((x: any) => x.id)).not.toContain(kept.id);
    replica.apply(res.body.data);

    // A deleted task takes its subtask; a deleted note leaves a marker; both come back when recovered.
    const del = await user.api.delete(`/tasks/${task.id}`);
    const delNote = await user.api.delete(`/notes/${note.id}`);
    await settled(t, user.id);
    const gone = await sync(user, replica.cursor);
    expect(gone.body.data.deletions).toEqual(
      expect.arrayContaining([
        { entity_type: 'task', id: task.id, deleted_at: expect.any(String) },
        { entity_type: 'subtask', id: sub.id, deleted_at: expect.any(String) },
        { entity_type: 'note', id: note.id, deleted_at: expect.any(String) },
      ]),
    );
    expect(gone.body.data.tasks).toEqual([]);
    replica.apply(gone.body.data);
    expect(replica.copy.task.has(task.id)).toBe(false);

    expect((await user.api.post(`/tasks/recover/${del.body.data.tombstone_id}`)).status).toBe(200);
    expect((await user.api.post(`/notes/recover/${delNote.body.data.tombstone_id}`)).status).toBe(200);
    await replica.sync();
    expect(replica.copy.task.get(task.id)).toMatchObject({ title: 'Draft 3' });
    expect(replica.copy.note.has(note.id)).toBe(true);
    expect(replica.plain()).toEqual(await serverState(user));
  });

  it('pages through many changes with has_more and ends in step with the server', async () => {
    const user = await signUp(t, { tier: 'pro' });
    const replica = new Replica(t, user);
    await replica.sync();
    const task = await newTask(user);
    for (let i = 0; i < 6; i++) await newSubtask(user, task.id, `Step ${i}`);
    for (let i = 0; i < 4; i++) await notify(user, `Notice ${i}`);
    await settled(t, user.id);
    const first = await sync(user, replica.cursor, 5);
    expect(first.body.data.has_more).toBe(true);
    replica.apply(first.body.data);
    await replica.sync({ limit: 5 });
    expect(replica.pages).toBeGreaterThan(2);
    expect(replica.plain()).toEqual(await serverState(user));
  });

  it('hands a client far behind pages of up to 1 000 changes: 1 200 new tasks in two pages', async () => {
    const user = await signUp(t);
    const replica = new Replica(t, user);
    await replica.sync();
    await sql`insert into task_instances (user_id, title) select ${user.id}, 'Bulk ' || i from generate_series(1, 1200) as i`.execute(t.db);
    await settled(t, user.id);
    const first = await sync(user, replica.cursor, 1000);
    expect(first.status, first.text).toBe(200);
    expect(first.body.data.tasks).toHaveLength(1000);
    expect(first.body.data.has_more).toBe(true);
    replica.apply(first.body.data);
    await replica.sync({ limit: 1000 });
    expect(replica.pages).toBe(3); // the empty snapshot, then 1 000 and 200
    const ids = await t.db.selectFrom('task_instances').select('id').where('user_id', '=', user.id).execute();
    expect([...replica.copy.task.keys()].sort()).toEqual(ids.map((r) => r.id).sort());
  });

  it('records changes made outside requests too: a notification read by read-all, one deleted', async () => {
    const user = await signUp(t);
    const a = await notify(user, 'A');
    const b = await notify(user, 'B');
    const replica = new Replica(t, user);
    await replica.sync();
    expect((await user.api.post('/notifications/read-all')).status).toBe(200);
    expect((await user.api.delete(`/notifications/${b.id}`)).status).toBe(200);
    await replica.sync();
    expect(replica.copy.notification.get(a.id)).toMatchObject({ read: true });
    expect(replica.copy.notification.has(b.id)).toBe(false);
    expect(replica.plain()).toEqual(await serverState(user));
  });
});

describe('isolation and cursors', () => {
  it("never sends another user's changes", async () => {
    const user = await signUp(t);
    const other = await signUp(t);
    const replica = new Replica(t, user);
    await replica.sync();
    const theirs = await newTask(other, { title: 'Theirs' });
    await newSubtask(other, theirs.id);
    await newNote(other, 'Their note');
    await other.api.delete(`/tasks/${theirs.id}`);
    await settled(t, other.id);
    const res = await sync(user, replica.cursor);
    expect(res.body.data).toMatchObject({ tasks: [], subtasks: [], reminders: [], notes: [], notifications: [], deletions: [], has_more: false });
  });

  it("refuses a malformed, tampered or another user's cursor with 400 naming query.cursor, changing nothing", async () => {
    const user = await signUp(t);
    const other = await signUp(t);
    await newTask(user);
    const theirs = (await sync(other)).body.data.cursor;
    const mine = (await sync(user)).body.data.cursor;
    const tampered = Buffer.from(Buffer.from(mine, 'base64url').toString().replace(/^d\.\d+/, 'd.1')).toString('base64url');
    const before = await changeCount(user);
    for (const cursor of [theirs, tampered, 'bm90LWEtY3Vyc29y', 'x', mine + 'A']) {
      const res = await sync(user, cursor);
      expect(res.status, cursor).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.details.map((d: any) => d.field)).toEqual(['query.cursor']);
    }
    for (const cursor of ['has spaces', 'é', '']) expect((await sync(user, cursor)).status).toBe(400);
    expect((await user.api.get('/sync', { query: { limit: 0 } })).status).toBe(400);
    expect((await user.api.get('/sync', { query: { limit: 1001 } })).status).toBe(400);
    expect(await changeCount(user)).toBe(before);
  });

  it('needs a token', async () => {
    expect((await t.api.get('/sync')).status).toBe(401);
  });
});

describe('account removal', () => {
  it('takes the change log and the search documents with the account', async () => {
    const user = await signUp(t);
    const task = await newTask(user, { title: 'Short-lived' });
    await newSubtask(user, task.id);
    await newNote(user, 'Gone soon');
    expect(await changeCount(user)).toBeGreaterThan(0);
    await t.db.deleteFrom('users').where('id', '=', user.id).execute();
    expect(await changeCount(user)).toBe(0);
    const docs = await t.db.selectFrom('search_documents').select('id').where('user_id', '=', user.id).execute();
    expect(docs).toEqual([]);
  });
});

describe('commit order', () => {
  it('never hands out a change past an older transaction that is still open, so that change is not skipped', async () => {
    const user = await signUp(t);
    const replica = new Replica(t, user);
    await replica.sync();

    // A writer that takes its transaction id (and so its place) first, then stays open.
    const slow = new pg.Client({ connectionString: t.databaseUrl });
    await slow.connect();
    try {
      await slow.query('begin');
      await slow.query('select pg_current_xact_id()');
      // Meanwhile a later transaction creates and commits a task through the API…
      const fast = await newTask(user, { title: 'Committed first' });
      // …and the open transaction writes after it: a higher seq, but an older transaction.
      const { rows } = await slow.query("insert into task_instances (user_id, title) values ($1, 'Committed last') returning id", [user.id]);
      const late = rows[0].id as string;

      const during = await sync(user, replica.cursor);
      expect(during.status).toBe(200);
      // Neither is handed out while the older transaction is open: the cursor cannot pass it.
      expect(during.body.data.tasks).toEqual([]);
      replica.apply(during.body.data);

      await slow.query('commit');
      await replica.sync();
      expect(new Set(replica.copy.task.keys())).toEqual(new Set([fast.id, late]));
      expect(replica.plain()).toEqual(await serverState(user));
    } finally {
      await slow.end();
    }
  });

  it('also with a transaction that took a lower seq and commits after a higher one', async () => {
    const user = await signUp(t);
    const replica = new Replica(t, user);
    await replica.sync();
    const slow = new pg.Client({ connectionString: t.databaseUrl });
    await slow.connect();
    try {
      await slow.query('begin');
      const { rows } = await slow.query("insert into task_instances (user_id, title) values ($1, 'Lower seq') returning id", [user.id]);
      const fast = await newTask(user, { title: 'Higher seq, committed first' });
      const seqs = await t.db.selectFrom('sync_changes').select(['seq', 'entity_id']).where('user_id', '=', user.id).execute();
      expect(seqs.map((s) => s.entity_id)).toEqual([fast.id]); // the open one is not visible yet
      replica.apply((await sync(user, replica.cursor)).body.data);
      expect(replica.copy.task.size).toBe(0);
      await slow.query('commit');
      await replica.sync();
      expect(new Set(replica.copy.task.keys())).toEqual(new Set([fast.id, rows[0].id]));
    } finally {
      await slow.end();
    }
  });

  it('pages in (xid, seq) order when a transaction\'s changes cross a power of ten: a cascaded subtask deletion is not skipped', async () => {
    // Found by tests/sync/sync-property.test.ts (seed 1323995080): deleting a task records, in one
    // transaction, the task, its cascaded subtask, the task again and its reminder. When their seqs
    // were 98, 99, 100, 101 a page of 2 sorted them as text ("100" < "101" < "98"), handed out 100
    // and 101, and its cursor (…, 101) skipped the subtask's deletion for good.
    const user = await signUp(t, { tier: 'pro' });
    const task = await newTask(user, { title: 'Goes with its subtask', due_date: inDays(2) });
    const sub = await newSubtask(user, task.id, 'step 1');
    expect((await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -30 })).status).toBe(201);
    const replica = new Replica(t, user);
    await replica.sync();
    expect(replica.copy.subtask.has(sub.id)).toBe(true);

    // The next seqs straddle a power of ten that no row of this database has reached yet.
    const { max } = await t.db.selectFrom('sync_changes').select((eb) => eb.fn.max('seq').as('max')).executeTakeFirstOrThrow();
    const ten = 10 ** String(Number(max ?? 0) + 10).length;
    await sql`select setval(pg_get_serial_sequence('sync_changes', 'seq'), ${ten - 3})`.execute(t.db);
    expect((await user.api.delete(`/tasks/${task.id}`)).status).toBe(200);
    const rows = await t.db.selectFrom('sync_changes').select(['seq', 'entity_type', 'deleted']).where('user_id', '=', user.id).where('seq', '>=', ten - 2).orderBy('seq').execute();
    expect(rows.map((r) => `${r.entity_type}${r.deleted ? ' deleted' : ''}`)).toEqual(['task deleted', 'subtask deleted', 'task', 'reminder deleted']);
    expect(rows.map((r) => Number(r.seq))).toEqual([ten - 2, ten - 1, ten, ten + 1]);

    await replica.sync({ limit: 2 });
    expect(replica.copy.subtask.has(sub.id)).toBe(false);
    expect(replica.plain()).toEqual(await serverState(user));
  });
});

describe('one statement writing many rows (statement triggers, migration 0025)', () => {
  it('records each row once for its own owner, hands every one out, and signals each owner once', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const tasks = { [a.id]: [await newTask(a, { title: 'A1' }), await newTask(a, { title: 'A2' })], [b.id]: [await newTask(b, { title: 'B1' })] };
    const replicas = [new Replica(t, a), new Replica(t, b)];
    for (const r of replicas) await r.sync();
    const before = { a: await changeCount(a), b: await changeCount(b) };

    const listener = new pg.Client({ connectionString: t.databaseUrl });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => void (n.channel === 'sync_changed' && heard.push(n.payload!)));
    await listener.query('listen sync_changed');
    try {
      // One transaction, each statement several rows of both users: reminders inserted, then updated,
      // notifications inserted, then one reminder deleted.
      const { reminders } = await t.db.transaction().execute(async (trx) => {
        const rows = Object.entries(tasks).flatMap(([userId, list]) => list.flatMap((task) => [0, 1].map(() => ({ user_id: userId, task_id: task.id, type: 'absolute' as const, scheduled_at: new Date(Date.now() + 86_400_000) }))));
        const reminders = await trx.insertInto('reminders').values(rows).returning(['id', 'user_id']).execute();
        await trx.updateTable('reminders').set({ method: 'push' }).where('id', 'in', reminders.map((r) => r.id)).execute();
        await trx.insertInto('notifications').values([a, b, a].map((u, i) => ({ user_id: u.id, type: 'system', title: `Batch ${i}`, body: '' }))).execute();
        await trx.deleteFrom('reminders').where('id', '=', reminders[0]!.id).execute();
        return { reminders };
      });
      // a: 4 reminders inserted + 4 updated + 2 notifications + 1 deletion; b: 2 + 2 + 1.
      expect(await changeCount(a)).toBe(before.a + 11);
      expect(await changeCount(b)).toBe(before.b + 5);
      const deletion = await t.db.selectFrom('sync_changes').select(['user_id', 'deleted']).where('entity_id', '=', reminders[0]!.id).where('deleted', '=', true).execute();
      expect(deletion).toEqual([{ user_id: a.id, deleted: true }]);

      for (const r of replicas) await r.sync();
      expect(replicas[0]!.plain()).toEqual(await serverState(a));
      expect(replicas[1]!.plain()).toEqual(await serverState(b));
      expect(replicas[0]!.copy.reminder.size).toBe(3);
      expect(replicas[1]!.copy.reminder.size).toBe(2);
      expect(replicas[0]!.copy.notification.size + replicas[1]!.copy.notification.size).toBe(3);

      await expect.poll(() => heard.filter((u) => u === a.id || u === b.id).sort(), { timeout: 5_000 }).toEqual([a.id, b.id].sort());
    } finally {
      await listener.end();
    }
  });
});
