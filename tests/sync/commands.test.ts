import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { diffSnapshots, snapshotDatabase } from '../helpers/db-snapshot.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { inDays, newSubtask, newTask } from '../tasks/fixtures.js';
import { Replica } from './replica.js';

// POST /sync (issue 19 item 2): offline commands applied one by one through the single operations.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const cmd = (type: string, rest: Record<string, unknown> = {}) => ({ type, uuid: randomUUID(), args: {}, ...rest });
const send = (u: TestUser, commands: unknown[]) => u.api.post('/sync', { commands });
const newNote = async (u: TestUser, content: string) => (await u.api.post('/notes', { content })).body.data;

async function expectUnchanged(before: Awaited<ReturnType<typeof snapshotDatabase>>, what: string) {
  expect(diffSnapshots(before, await snapshotDatabase(t)), `${what} changed the database`).toEqual({});
}

describe('applying commands', () => {
  it('applies every command type through its single operation, in order, and answers an ok result with the id of each', async () => {
    const user = await signUp(t, { tier: 'pro' });
    const task = await newTask(user, { title: 'Existing', due_date: inDays(2) });
    const [s1, s2] = [await newSubtask(user, task.id, 'One'), await newSubtask(user, task.id, 'Two')];
    const note = await newNote(user, 'Old note');
    const other = await newTask(user, { title: 'To delete' });
    const gone = await newNote(user, 'Gone note');
    const reminder = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -30 })).body.data;

    const commands = [
      cmd('task_add', { temp_id: 'a', args: { title: 'Made offline', priority: 'high', due_date: inDays(1) } }),
      cmd('task_update', { id: task.id, args: { title: 'Renamed offline', version: 1 } }),
      cmd('task_complete', { id: 'a' }),
      cmd('task_uncomplete', { id: 'a' }),
      cmd('task_delete', { id: other.id }),
      cmd('subtask_add', { temp_id: 's', id: task.id, args: { title: 'Three' } }),
      cmd('subtask_update', { id: s1.id, args: { title: 'One, renamed' } }),
      cmd('subtask_delete', { id: 's' }),
      cmd('subtask_reorder', { id: task.id, args: { subtask_ids: [s2.id, s1.id] } }),
      cmd('note_add', { temp_id: 'n', args: { content: 'Written on the train' } }),
      cmd('note_update', { id: note.id, args: { content: 'Old note, edited' } }),
      cmd('note_delete', { id: gone.id }),
      cmd('reminder_add', { temp_id: 'r', id: 'a', args: { type: 'before', offset_minutes: -15 } }),
      cmd('reminder_update', { id: reminder.id, args: { offset_minutes: -60 } }),
      cmd('reminder_delete', { id: 'r' }),
    ];
    const res = await send(user, commands);
    expect(res.status, res.text).toBe(200);
    const { results, temp_id_mapping: mapping, cursor } = res.body.data;
    expect(results.map((r: any) => [r.type, r.status, r.http_status])).toEqual(commands.map((c) => [c.type, 'ok', c.type.endsWith('_add') ? 201 : 200]));
    expect(results.map((r: any) => r.uuid)).toEqual(commands.map((c) => c.uuid));
    expect(Object.keys(mapping).sort()).toEqual(['a', 'n', 'r', 's']);
    expect(typeof cursor).toBe('string');

    const made = (await user.api.get(`/tasks/${mapping.a}`)).body.data;
    expect(made).toMatchObject({ title: 'Made offline', priority: 'high', completed: false, version: 3, reminders: [] });
    const edited = (await user.api.get(`/tasks/${task.id}`)).body.data;
    expect(edited).toMatchObject({ title: 'Renamed offline', version: 2 });
    expect(edited.subtasks.map((s: any) => [s.id, s.title, s.order_index])).toEqual([
      [s2.id, 'Two', 0],
      [s1.id, 'One, renamed', 1],
    ]);
    expect(edited.reminders.map((r: any) => r.offset_minutes)).toEqual([-60]);
    expect((await user.api.get(`/tasks/${other.id}`)).status).toBe(404);
    expect((await user.api.get(`/notes/${mapping.n}`)).body.data.content).toBe('Written on the train');
    expect((await user.api.get(`/notes/${note.id}`)).body.data.content).toBe('Old note, edited');
    expect((await user.api.get(`/notes/${gone.id}`)).status).toBe(404);
    // The same activity as the single operations: the use cases ran.
    const created = await t.db.selectFrom('activity_logs').select('action').where('user_id', '=', user.id).where('entity_id', '=', mapping.a).execute();
    expect(created.map((a) => a.action)).toEqual(expect.arrayContaining(['task_created', 'task_completed']));
  });

  it('maps temp_ids to real ids that later commands of the batch use; an unknown temp_id is that command\'s 404', async () => {
    const user = await signUp(t);
    const res = await send(user, [
      cmd('task_add', { temp_id: 'trip', args: { title: 'Plan the trip', due_date: inDays(5) } }),
      cmd('subtask_add', { temp_id: 'tickets', id: 'trip', args: { title: 'Buy tickets' } }),
      cmd('subtask_update', { id: 'tickets', args: { completed: true } }),
      cmd('subtask_add', { id: 'nobody', args: { title: 'Orphan' } }),
    ]);
    expect(res.status, res.text).toBe(200);
    const { results, temp_id_mapping: mapping } = res.body.data;
    expect(results.map((r: any) => r.status)).toEqual(['ok', 'ok', 'ok', 'error']);
    expect(results[3]).toMatchObject({ http_status: 404, error: { code: 'NOT_FOUND', request_id: res.headers.get('x-request-id') } });
    expect(mapping).toEqual({ trip: results[0].id, tickets: results[1].id });
    const task = (await user.api.get(`/tasks/${mapping.trip}`)).body.data;
    // Completing its only subtask completed the task, as PATCH /subtasks does.
    expect(task).toMatchObject({ completed: true, completed_by: 'auto' });
    expect(task.subtasks).toEqual([expect.objectContaining({ id: mapping.tickets, task_id: mapping.trip, completed: true })]);
  });
});

describe('idempotency by uuid', () => {
  it('a batch sent again changes nothing and answers the same results and temp_id mapping', async () => {
    const user = await signUp(t);
    const task = await newTask(user, { title: 'Versioned' });
    const batch = [
      cmd('task_add', { temp_id: 'x', args: { title: 'Once only' } }),
      cmd('task_update', { id: task.id, args: { title: 'Edited once', version: 1 } }),
      cmd('task_update', { id: task.id, args: { title: 'Stale', version: 1 } }),
      cmd('note_add', { args: { content: 'Once' } }),
    ];
    const first = await send(user, batch);
    expect(first.body.data.results.map((r: any) => r.status)).toEqual(['ok', 'ok', 'error', 'ok']);
    const before = await snapshotDatabase(t);
    const again = await send(user, batch);
    expect(again.status).toBe(200);
    expect(again.body.data.results).toEqual(first.body.data.results);
    expect(again.body.data.temp_id_mapping).toEqual(first.body.data.temp_id_mapping);
    await expectUnchanged(before, 'the replayed batch');
    // Also one command of it inside a new batch, with a new command after it.
    const mixed = await send(user, [batch[0], cmd('task_complete', { id: 'x' })]);
    expect(mixed.body.data.results[0]).toEqual(first.body.data.results[0]);
    expect(mixed.body.data.results[1]).toMatchObject({ status: 'ok', id: first.body.data.temp_id_mapping.x });
    expect((await user.api.get('/tasks', { query: { completed: true } })).body.data.map((x: any) => x.title)).toEqual(['Once only']);
  });

  it('the same batch sent twice at once is applied once; both answers agree', async () => {
    const user = await signUp(t);
    const task = await newTask(user, { title: 'Raced' });
    const batch = [
      cmd('task_add', { temp_id: 'a', args: { title: 'Only one of me' } }),
      cmd('subtask_add', { id: 'a', args: { title: 'Only one step' } }),
      cmd('task_update', { id: task.id, args: { title: 'Raced once', version: 1 } }),
      cmd('note_add', { args: { content: 'Only one note' } }),
    ];
    const [one, two] = await Promise.all([send(user, batch), send(user, batch)]);
    expect(one.status, one.text).toBe(200);
    expect(two.status, two.text).toBe(200);
    expect(two.body.data.results).toEqual(one.body.data.results);
    expect(two.body.data.temp_id_mapping).toEqual(one.body.data.temp_id_mapping);
    expect(one.body.data.results.map((r: any) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    const titles = (await user.api.get('/tasks')).body.data.map((x: any) => [x.title, x.version, x.subtask_count]);
    expect(titles.sort()).toEqual([
      ['Only one of me', 1, 1],
      ['Raced once', 2, 0],
    ]);
    expect((await user.api.get('/notes')).body.data).toHaveLength(1);
  });

  it('a uuid used again for another command is that command\'s IDEMPOTENCY_KEY_MISMATCH, and nothing is applied', async () => {
    const user = await signUp(t);
    const first = cmd('note_add', { args: { content: 'First' } });
    await send(user, [first]);
    const before = await snapshotDatabase(t);
    const res = await send(user, [{ ...first, args: { content: 'Something else' } }]);
    expect(res.body.data.results[0]).toMatchObject({ status: 'error', http_status: 422, error: { code: 'IDEMPOTENCY_KEY_MISMATCH' } });
    await expectUnchanged(before, 'a reused uuid');
  });
});

describe('per-command failures', () => {
  it('a stale version fails only its command (409 CONFLICT with current_version); the others are applied', async () => {
    const user = await signUp(t);
    const task = await newTask(user, { title: 'Shared' });
    expect((await user.api.patch(`/tasks/${task.id}`, { title: 'Changed on the web', version: 1 })).status).toBe(200);
    const res = await send(user, [
      cmd('note_add', { args: { content: 'Before' } }),
      cmd('task_update', { id: task.id, args: { title: 'Changed offline', version: 1 } }),
      cmd('task_add', { args: { title: 'After' } }),
    ]);
    expect(res.body.data.results.map((r: any) => r.status)).toEqual(['ok', 'error', 'ok']);
    expect(res.body.data.results[1]).toMatchObject({ http_status: 409, error: { code: 'CONFLICT', current_version: 2 } });
    expect((await user.api.get(`/tasks/${task.id}`)).body.data.title).toBe('Changed on the web');
    expect((await user.api.get('/tasks')).body.data.map((x: any) => x.title).sort()).toEqual(['After', 'Changed on the web']);
  });

  it("another user's ids are each command's 404 NOT_FOUND and nothing of theirs changes", async () => {
    const owner = await signUp(t);
    const intruder = await signUp(t);
    const task = await newTask(owner, { title: 'Mine', due_date: inDays(1) });
    const sub = await newSubtask(owner, task.id);
    const note = await newNote(owner, 'Private');
    const reminder = (await owner.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -5 })).body.data;
    const before = await snapshotDatabase(t);
    const res = await send(intruder, [
      cmd('task_update', { id: task.id, args: { title: 'Taken', version: 1 } }),
      cmd('task_complete', { id: task.id }),
      cmd('task_delete', { id: task.id }),
      cmd('subtask_add', { id: task.id, args: { title: 'Injected' } }),
      cmd('subtask_update', { id: sub.id, args: { title: 'Taken' } }),
      cmd('subtask_delete', { id: sub.id }),
      cmd('subtask_reorder', { id: task.id, args: { subtask_ids: [sub.id] } }),
      cmd('note_update', { id: note.id, args: { content: 'Taken' } }),
      cmd('note_delete', { id: note.id }),
      cmd('reminder_add', { id: task.id, args: { type: 'before', offset_minutes: -1 } }),
      cmd('reminder_update', { id: reminder.id, args: { offset_minutes: -2 } }),
      cmd('reminder_delete', { id: reminder.id }),
    ]);
    expect(res.status).toBe(200);
    for (const r of res.body.data.results) expect(r, r.type).toMatchObject({ status: 'error', http_status: 404, error: { code: 'NOT_FOUND' } });
    expect(res.text).not.toContain(owner.id);
    // Only the intruder's stored results were written.
    const diff = diffSnapshots(before, await snapshotDatabase(t));
    expect(Object.keys(diff)).toEqual(['sync_commands']);
    expect((await owner.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ title: 'Mine', completed: false, subtasks: [expect.objectContaining({ id: sub.id })] });
  });
});

describe('refused batches', () => {
  it('101 commands, an unknown type, args the operation refuses or a repeated temp_id: 400 and nothing applied', async () => {
    const user = await signUp(t);
    const before = await snapshotDatabase(t);
    const note = (i: number) => cmd('note_add', { args: { content: `Note ${i}` } });
    const tooMany = await send(user, Array.from({ length: 101 }, (_, i) => note(i)));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.code).toBe('VALIDATION_ERROR');
    const unknown = await send(user, [note(1), cmd('task_explode', { id: randomUUID() })]);
    expect(unknown.status).toBe(400);
    const badArgs = await send(user, [note(1), cmd('task_add', { args: { title: '' } })]);
    expect(badArgs.status).toBe(400);
    const repeated = await send(user, [cmd('task_add', { temp_id: 'same', args: { title: 'A' } }), cmd('note_add', { temp_id: 'same', args: { content: 'B' } })]);
    expect(repeated.status).toBe(400);
    expect(repeated.body.error.details).toEqual([{ field: 'body.commands.1.temp_id', message: 'is already the temp_id of command 0' }]);
    expect((await send(user, [])).status).toBe(400);
    await expectUnchanged(before, 'refused batches');
  });

  it('needs a token', async () => {
    expect((await t.api.post('/sync', { commands: [cmd('note_add', { args: { content: 'x' } })] })).status).toBe(401);
  });
});

describe('the cursor', () => {
  it('is a GET /sync position after the batch: later changes come from it', async () => {
    const user = await signUp(t);
    const res = await send(user, [cmd('task_add', { args: { title: 'In the batch' } })]);
    const later = await newTask(user, { title: 'After the batch' });
    const replica = new Replica(t, user);
    replica.cursor = res.body.data.cursor;
    await replica.sync();
    expect([...replica.copy.task.keys()]).toContain(later.id);
  });
});

describe('rate limit', () => {
  it('counts each command like its single operation: a batch that does not fit is a 429 and applies nothing', async () => {
    const limited = await startTestApp({ env: { RATE_LIMIT_GENERAL: '10' } });
    try {
      const user = await signUp(limited);
      const notes = (n: number) => Array.from({ length: n }, (_, k) => cmd('note_add', { args: { content: `Note ${k}` } }));
      const first = await user.api.post('/sync', { commands: notes(4) });
      expect(first.status, first.text).toBe(200);
      const remaining = Number(first.headers.get('x-ratelimit-remaining'));
      expect(remaining).toBeLessThanOrEqual(6);
      const before = await limited.db.selectFrom('notes').select('id').where('user_id', '=', user.id).execute();
      const refused = await user.api.post('/sync', { commands: notes(remaining + 1) });
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
      expect(await limited.db.selectFrom('notes').select('id').where('user_id', '=', user.id).execute()).toEqual(before);
    } finally {
      await limited.close();
    }
  });
});
