import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;
let ada: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  ada = await signUp(t);
  bob = await signUp(t);
});
afterAll(() => t?.close());

const newNote = async (u: TestUser, content = 'A note') => {
  const res = await u.api.post('/notes', { content });
  expect(res.status, res.text).toBe(201);
  return res.body.data;
};
const activity = (userId: string, action: string) =>
  t.db.selectFrom('activity_logs').selectAll().where('user_id', '=', userId).where('action', '=', action).execute();

// The limits' permutations (Pro 25, perks, restoring past the limit) are fast tests in
// tests/domain/limits/limits.test.ts; here the 409 of one, and the race.
describe('createNote', () => {
  it('stores the content trimmed, with every nullable key present', async () => {
    const res = await ada.api.post('/notes', { content: '  Call the venue  ' });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({
      user_id: ada.id,
      content: 'Call the venue',
      archived: false,
      voice_url: null,
      voice_duration_seconds: null,
      transcription_status: null,
    });
    expect(res.body.data.created_at).toMatch(/\.\d{3}Z$/);
    expect(await activity(ada.id, 'note_created')).toHaveLength(1);
  });

  it.each([
    [{ content: '   ' }, 'body.content'],
    [{ content: '' }, 'body.content'],
    [{ content: 'x'.repeat(2001) }, 'body.content'],
    [{ content: 'x', voice_url: 'https://media.example.com/a.webm' }, 'body.voice_duration_seconds'],
    [{ content: 'x', voice_duration_seconds: 30 }, 'body.voice_url'],
    [{ content: 'x', voice_url: 'http://media.example.com/a.webm', voice_duration_seconds: 3 }, 'body.voice_url'],
    [{ content: 'x', voice_url: 'https://media.example.com/a.webm', voice_duration_seconds: 301 }, 'body.voice_duration_seconds'],
    [{ content: 'x', user_id: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d' }, 'body.user_id'],
  ])('rejects %j with 400 naming %s and creates nothing', async (body, field) => {
    const u = await signUp(t);
    const res = await u.api.post('/notes', body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    expect((await u.api.get('/notes')).body.pagination.total).toBe(0);
  });

  it('refuses voice fields to a free user with 403 TIER_REQUIRED and creates nothing', async () => {
    const u = await signUp(t);
    const res = await u.api.post('/notes', { content: 'Dictated', voice_url: 'https://media.example.com/a.webm', voice_duration_seconds: 42 });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 'TIER_REQUIRED', required_tier: 'pro', current_tier: 'free' });
    expect((await u.api.get('/notes')).body.pagination.total).toBe(0);
  });

  it('stores a Pro voice note as transcribed', async () => {
    const pro = await signUp(t, { tier: 'pro' });
    const res = await pro.api.post('/notes', { content: 'Dictated', voice_url: 'https://media.example.com/a.webm', voice_duration_seconds: 42 });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ voice_url: 'https://media.example.com/a.webm', voice_duration_seconds: 42, transcription_status: 'completed' });
  });

  it('enforces the active-note limit (10 on free) and counts archived notes out', async () => {
    const u = await signUp(t);
    const notes = [];
    for (let i = 0; i < 10; i++) notes.push(await newNote(u, `note ${i}`));
    const res = await u.api.post('/notes', { content: 'one too many' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 10 });
    expect((await u.api.get('/notes')).body.pagination.total).toBe(10);

    await u.api.patch(`/notes/${notes[0].id}`, { archived: true });
    expect((await u.api.post('/notes', { content: 'fits again' })).status).toBe(201);
  });

  it('holds the limit under concurrent creates', async () => {
    const u = await signUp(t);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => u.api.post('/notes', { content: `parallel ${i}` })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(10);
    expect(results.filter((r) => r.status === 409)).toHaveLength(10);
    expect((await u.api.get('/notes', { query: { archived: false } })).body.pagination.total).toBe(10);
  });

});

describe('listNotes', () => {
  it('lists newest first, filters by archived and paginates', async () => {
    const u = await signUp(t);
    const a = await newNote(u, 'first');
    const b = await newNote(u, 'second');
    const c = await newNote(u, 'third');
    await u.api.patch(`/notes/${b.id}`, { archived: true });

    const all = await u.api.get('/notes');
    expect(all.body.data.map((n: { id: string }) => n.id)).toEqual([c.id, b.id, a.id]);
    expect(all.body.pagination).toEqual({ offset: 0, limit: 25, total: 3, has_more: false });
    expect((await u.api.get('/notes', { query: { archived: true } })).body.data.map((n: { id: string }) => n.id)).toEqual([b.id]);
    expect((await u.api.get('/notes', { query: { archived: false } })).body.data.map((n: { id: string }) => n.id)).toEqual([c.id, a.id]);

    const page = await u.api.get('/notes', { query: { offset: 1, limit: 1 } });
    expect(page.body.data.map((n: { id: string }) => n.id)).toEqual([b.id]);
    expect(page.body.pagination).toEqual({ offset: 1, limit: 1, total: 3, has_more: true });
    const past = await u.api.get('/notes', { query: { offset: 10 } });
    expect(past.body).toEqual({ data: [], pagination: { offset: 10, limit: 25, total: 3, has_more: false } });
  });

  it('shows only the caller’s notes', async () => {
    const mine = await newNote(bob, 'bob only');
    const res = await ada.api.get('/notes', { query: { limit: 100 } });
    expect(res.body.data.map((n: { id: string }) => n.id)).not.toContain(mine.id);
  });

  it('rejects a bad filter or page with 400', async () => {
    expect((await ada.api.get('/notes', { query: { limit: 0 } })).status).toBe(400);
    expect((await ada.api.get('/notes', { query: { archived: 'maybe' } })).status).toBe(400);
  });
});

describe('getNote', () => {
  it('returns the note, 404 for a missing one and 403 for another user’s', async () => {
    const n = await newNote(ada);
    expect((await ada.api.get(`/notes/${n.id}`)).body.data).toEqual(n);
    expect((await ada.api.get('/notes/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d')).status).toBe(404);
    const other = await bob.api.get(`/notes/${n.id}`);
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe('FORBIDDEN');
    expect((await ada.api.get('/notes/not-a-uuid')).status).toBe(400);
  });
});

describe('updateNote', () => {
  it('edits content (trimmed), archives and restores', async () => {
    const n = await newNote(ada, 'draft');
    const edited = await ada.api.patch(`/notes/${n.id}`, { content: ' final ' });
    expect(edited.status).toBe(200);
    expect(edited.body.data).toMatchObject({ content: 'final', archived: false });
    expect(Date.parse(edited.body.data.updated_at)).toBeGreaterThanOrEqual(Date.parse(n.updated_at));
    expect((await ada.api.patch(`/notes/${n.id}`, { archived: true })).body.data.archived).toBe(true);
    expect((await ada.api.patch(`/notes/${n.id}`, { archived: false })).body.data.archived).toBe(false);
    expect((await activity(ada.id, 'note_archived')).length).toBeGreaterThanOrEqual(1);
  });

  it('rejects an empty or blank change, another user’s note (403) and a missing one (404)', async () => {
    const n = await newNote(ada, 'keep');
    expect((await ada.api.patch(`/notes/${n.id}`, {})).status).toBe(400);
    expect((await ada.api.patch(`/notes/${n.id}`, { content: '  ' })).status).toBe(400);
    expect((await ada.api.patch(`/notes/${n.id}`, { voice_url: 'https://x.example/a' })).status).toBe(400);
    expect((await bob.api.patch(`/notes/${n.id}`, { content: 'hijack' })).status).toBe(403);
    expect((await ada.api.patch('/notes/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d', { content: 'x' })).status).toBe(404);
    expect((await ada.api.get(`/notes/${n.id}`)).body.data).toEqual(n);
  });
});

describe('deleteNote and recoverNote', () => {
  it('deletes into a tombstone and recovers the note with its id and timestamps', async () => {
    const n = await newNote(ada, 'to be restored');
    const archived = (await ada.api.patch(`/notes/${n.id}`, { archived: true })).body.data;
    const del = await ada.api.delete(`/notes/${n.id}`);
    expect(del.status).toBe(200);
    expect(Date.parse(del.body.data.recoverable_until) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    expect((await ada.api.get(`/notes/${n.id}`)).status).toBe(404);
    const tombstone = await t.db.selectFrom('deletion_tombstones').selectAll().where('id', '=', del.body.data.tombstone_id).executeTakeFirstOrThrow();
    expect(tombstone).toMatchObject({ entity_type: 'note', entity_id: n.id, title: 'to be restored' });

    const rec = await ada.api.post(`/notes/recover/${del.body.data.tombstone_id}`);
    expect(rec.status).toBe(200);
    expect(rec.body.data).toEqual(archived);
    expect((await ada.api.get(`/notes/${n.id}`)).body.data).toEqual(archived);
    // the tombstone is used up
    expect((await ada.api.post(`/notes/recover/${del.body.data.tombstone_id}`)).status).toBe(404);
  });

  it('answers 403 for another user’s note or tombstone, 404 for missing ones, and changes nothing', async () => {
    const n = await newNote(ada, 'mine');
    expect((await bob.api.delete(`/notes/${n.id}`)).status).toBe(403);
    expect((await ada.api.get(`/notes/${n.id}`)).status).toBe(200);
    expect((await ada.api.delete('/notes/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d')).status).toBe(404);

    const del = await ada.api.delete(`/notes/${n.id}`);
    const stolen = await bob.api.post(`/notes/recover/${del.body.data.tombstone_id}`);
    expect(stolen.status).toBe(403);
    expect((await t.db.selectFrom('deletion_tombstones').select('id').where('id', '=', del.body.data.tombstone_id).execute())).toHaveLength(1);
    expect((await ada.api.post('/notes/recover/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d')).status).toBe(404);
  });

  it('refuses to recover an active note past the limit (tombstone kept), and a task’s tombstone', async () => {
    const u = await signUp(t);
    const n = await newNote(u, 'deleted while active');
    const del = await u.api.delete(`/notes/${n.id}`);
    for (let i = 0; i < 10; i++) await newNote(u, `n${i}`);
    const res = await u.api.post(`/notes/recover/${del.body.data.tombstone_id}`);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 10 });
    expect((await t.db.selectFrom('deletion_tombstones').select('id').where('id', '=', del.body.data.tombstone_id).execute())).toHaveLength(1);

    const [taskTombstone] = await t.db
      .insertInto('deletion_tombstones')
      .values({ user_id: u.id, entity_type: 'task', entity_id: n.id, title: 'a task', snapshot: '{}', recoverable_until: new Date(Date.now() + 86_400_000) })
      .returning('id')
      .execute();
    expect((await u.api.post(`/notes/recover/${taskTombstone!.id}`)).status).toBe(404);
  });

  it('keeps only the three newest tombstones', async () => {
    const u = await signUp(t);
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await u.api.delete(`/notes/${(await newNote(u, `n${i}`)).id}`)).body.data.tombstone_id);
    expect((await u.api.post(`/notes/recover/${ids[0]}`)).status).toBe(404);
    expect((await u.api.post(`/notes/recover/${ids[3]}`)).status).toBe(200);
  });
});
