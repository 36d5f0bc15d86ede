import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_BATCH } from '../../src/domain/users/export-account.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createReminder, createSubtask, createTemplate, createTombstone, createNote, createTask } from '../helpers/resources.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let ada: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  ada = await signUp(t, { name: 'Ada' });
  bob = await signUp(t, { name: 'Bob' });
});
afterAll(() => t?.close());

const exportOf = (u: TestUser) => u.api.get('/users/me/export');

describe('exportCurrentUser', () => {
  it('holds every kind of the user data, as the other operations show it', async () => {
    const sub = await createSubtask(ada);
    const reminder = await createReminder(ada);
    const template = await createTemplate(ada);
    const note = await createNote(ada);
    const tombstone = await createTombstone(ada, 'note');
    await ada.api.patch('/users/me', { timezone: 'Europe/London' });
    const [focusTask] = [await createTask(ada, { title: 'Focus on this' })];
    expect((await ada.api.post('/focus/start', { task_id: focusTask!.id })).status).toBe(201);
    await t.db.insertInto('push_subscriptions').values({ user_id: ada.id, endpoint: 'https://push.example.com/ada-1', p256dh_key: 'SECRET-P256DH-KEY', auth_key: 'SECRET-AUTH-KEY' }).execute();
    const [hook] = await t.db.insertInto('webhooks').values({ user_id: ada.id, url: 'https://hooks.example.com/ada', events: ['task.created'], secret: 'whsec_SECRET-WEBHOOK-SIGNING-KEY' }).returning('id').execute();

    const res = await exportOf(ada);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="perpetua-flow-export-\d{4}-\d{2}-\d{2}\.json"$/);
    const doc = res.body;
    expect(doc).toMatchObject({ format: 'perpetua-flow-export', version: 1, user: { id: ada.id, email: ada.email, timezone: 'Europe/London' } });

    // Tasks as getTask shows them, with subtasks and reminders.
    for (const id of [sub.taskId, focusTask!.id]) {
      const shown = (await ada.api.get(`/tasks/${id}`)).body.data;
      expect(doc.tasks.find((x: { id: string }) => x.id === id)).toEqual(shown);
    }
    const withReminder = doc.tasks.find((x: { reminders: { id: string }[] }) => x.reminders.some((r) => r.id === reminder.id));
    expect(withReminder).toBeDefined();
    expect(doc.tasks.find((x: { id: string }) => x.id === sub.taskId).subtasks.map((s: { id: string }) => s.id)).toContain(sub.id);
    // Oldest first.
    const created = doc.tasks.map((x: { created_at: string }) => x.created_at);
    expect([...created].sort()).toEqual(created);

    expect(doc.templates.map((x: { id: string }) => x.id)).toEqual([template.id]);
    expect(doc.notes.map((x: { id: string }) => x.id)).toEqual([note.id]);
    expect(doc.notes[0]).toEqual((await ada.api.get(`/notes/${note.id}`)).body.data);
    expect(doc.tombstones).toHaveLength(1);
    expect(doc.tombstones[0]).toMatchObject({ id: tombstone.id, entity_type: 'note' });
    expect(doc.tombstones[0].snapshot).toMatchObject({ content: 'Call the venue about the projector' });
    expect(doc.credits.balance).toEqual((await ada.api.get('/credits/balance')).body.data);
    expect(doc.credits.ledger).toEqual([...(await ada.api.get('/credits/history')).body.data].reverse());
    expect(doc.achievements).toEqual((await ada.api.get('/achievements/me')).body.data);
    expect(doc.focus_sessions).toHaveLength(1);
    expect(doc.focus_sessions[0]).toMatchObject({ task_id: focusTask!.id, ended_at: null });
    expect(doc.subscription).toBeNull();
    expect(doc.push_subscriptions).toEqual([expect.objectContaining({ endpoint: 'https://push.example.com/ada-1' })]);
    expect(doc.webhooks).toEqual([(await ada.api.get(`/webhooks/${hook!.id}`)).body.data]);
    const activity = (await ada.api.get('/activity', { query: { limit: 100 } })).body;
    expect(doc.activity).toHaveLength(activity.pagination.total);
    expect(doc.activity.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['task_created', 'note_deleted', 'user_updated']));

    // Secrets and provider references stay out.
    expect(res.text).not.toContain('SECRET-P256DH-KEY');
    expect(res.text).not.toContain('SECRET-AUTH-KEY');
    expect(res.text).not.toContain('SECRET-WEBHOOK-SIGNING-KEY');
    expect(res.text).not.toMatch(/token_hash|refresh_token|auth_key|p256dh/);
  });

  it('holds only the caller data', async () => {
    const bobsTask = await createTask(bob, { title: 'Bob only task' });
    const bobsNote = (await bob.api.post('/notes', { content: 'Bob only note' })).body.data;
    const res = await exportOf(ada);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(bob.id);
    expect(res.text).not.toContain(bob.email);
    expect(res.text).not.toContain(bobsTask.id);
    expect(res.text).not.toContain(bobsNote.id);
    const bobs = (await exportOf(bob)).body;
    expect(bobs.tasks.map((x: { id: string }) => x.id)).toEqual([bobsTask.id]);
    expect(bobs.user.id).toBe(bob.id);
  });

  it('needs a token', async () => {
    expect((await t.api.get('/users/me/export')).status).toBe(401);
  });

  it('streams a large account in batches, all of it, in order', async () => {
    const big = await signUp(t);
    const tasks = EXPORT_BATCH * 2 + 37;
    await sql`insert into task_instances (user_id, title, created_at, updated_at)
      select ${big.id}, 'Bulk task ' || i, now() - make_interval(secs => ${tasks} - i), now() from generate_series(1, ${tasks}) i`.execute(t.db);
    await sql`insert into subtasks (task_id, title, order_index)
      select id, 'Step', 0 from task_instances where user_id = ${big.id}`.execute(t.db);
    await sql`insert into activity_logs (user_id, entity_type, entity_id, action, source)
      select ${big.id}, 'task', gen_random_uuid(), 'task_created', 'user' from generate_series(1, ${EXPORT_BATCH * 3}) i`.execute(t.db);

    // Read the raw stream: it arrives in several pieces, chunked, before the whole is known.
    const raw = await fetch(`${t.baseUrl}/api/v1/users/me/export`, { headers: { authorization: `Bearer ${big.token}` } });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('transfer-encoding')).toBe('chunked');
    expect(raw.headers.get('content-length')).toBeNull();
    let pieces = 0;
    const reader = raw.body!.getReader();
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
      pieces++;
    }
    expect(pieces).toBeGreaterThan(1);

    // The same through the contract-checking client: valid, complete, ordered.
    const res = await exportOf(big);
    expect(res.status).toBe(200);
    expect(res.body.tasks).toHaveLength(tasks);
    expect(res.body.tasks.map((x: { title: string }) => x.title)).toEqual(Array.from({ length: tasks }, (_, i) => `Bulk task ${i + 1}`));
    expect(res.body.tasks.every((x: { subtask_count: number; subtasks: unknown[] }) => x.subtask_count === 1 && x.subtasks.length === 1)).toBe(true);
    const logged = await t.db.selectFrom('activity_logs').select('id').where('user_id', '=', big.id).execute();
    expect(logged.length).toBeGreaterThanOrEqual(EXPORT_BATCH * 3);
    expect(new Set(res.body.activity.map((a: { id: string }) => a.id))).toEqual(new Set(logged.map((r) => r.id)));
  });

  it('is one consistent snapshot while the user keeps writing', async () => {
    const writer = await signUp(t);
    for (let i = 0; i < 20; i++) await createTask(writer, { title: `Snapshot ${i}` });
    const stop = { now: false };
    const writes = (async () => {
      let n = 0;
      while (!stop.now) {
        await writer.api.post('/tasks', { title: `During ${n++}` });
      }
    })();
    try {
      for (let i = 0; i < 3; i++) {
        const doc = (await exportOf(writer)).body;
        // Every task_created entry of the snapshot has its task, and every task its entry.
        const created = new Set(doc.activity.filter((a: { action: string }) => a.action === 'task_created').map((a: { entity_id: string }) => a.entity_id));
        expect(new Set(doc.tasks.map((x: { id: string }) => x.id))).toEqual(created);
      }
    } finally {
      stop.now = true;
      await writes;
    }
  });
});
