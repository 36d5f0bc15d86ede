import { describe, expect } from 'vitest';
import type { Database } from '../../../db/index.js';
import type { DomainError } from '../../../src/core/errors.js';
import { effectiveLimits } from '../../../src/domain/limits/effective-limits.js';
import { createNote } from '../../../src/domain/notes/create-note.js';
import { updateNote } from '../../../src/domain/notes/update-note.js';
import { createSubtasks } from '../../../src/domain/subtasks/create-subtasks.js';
import { createTask } from '../../../src/domain/tasks/create-task.js';
import { domainTest as test, newUser } from '../../helpers/domain-tx.js';

// The limits of SPEC §4 / FR-046 on the domain: per tier, plus the permanent perks of unlocked
// achievements. Task limits are in tests/domain/tasks; the HTTP suites keep one test per limit for
// its 409 LIMIT_EXCEEDED and the races (concurrent creates) on a real pool.

type User = Awaited<ReturnType<typeof newUser>>;
const refusal = (p: Promise<unknown>): Promise<DomainError> =>
  p.then(
    () => expect.fail('expected a refusal'),
    (e: DomainError) => e,
  );
const note = (db: Database, u: User, content = `note ${Math.random()}`) => createNote(db, u.actor, { content });
const activeNotes = async (db: Database, userId: string) =>
  (await db.selectFrom('notes').select('id').where('user_id', '=', userId).where('archived', '=', false).execute()).length;
const unlock = (db: Database, userId: string, ...ids: string[]) => db.insertInto('user_achievements').values(ids.map((id) => ({ user_id: userId, achievement_id: id }))).execute();

describe('effective limits', () => {
  test('are the tier’s plus the perks of unlocked achievements; daily credits are a Pro grant', async ({ db }) => {
    const u = await newUser(db);
    expect(await effectiveLimits(db, u.id)).toMatchObject({ tier: 'free', maxTasks: 50, maxNotes: 10, maxSubtasksPerTask: 4, maxDescriptionLength: 1000, dailyCredits: 0, voice: false });
    await unlock(db, u.id, 'tasks_5', 'tasks_25', 'focus_10', 'streak_7');
    expect(await effectiveLimits(db, u.id)).toMatchObject({ maxTasks: 90, maxNotes: 15, dailyCredits: 0 });
    await db.updateTable('users').set({ tier: 'pro' }).where('id', '=', u.id).execute();
    expect(await effectiveLimits(db, u.id)).toMatchObject({ tier: 'pro', maxTasks: 240, maxNotes: 30, maxSubtasksPerTask: 10, maxDescriptionLength: 2000, dailyCredits: 12, voice: true });
  });

  test('a perk raises the active-task limit createTask enforces', async ({ db }) => {
    const u = await newUser(db);
    await unlock(db, u.id, 'tasks_5');
    await db
      .insertInto('task_instances')
      .values(Array.from({ length: 64 }, (_, i) => ({ user_id: u.id, title: `Seeded ${i}` })))
      .execute();
    await createTask(db, u.actor, { title: '65th' });
    expect(await refusal(createTask(db, u.actor, { title: '66th' }))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 65 } });
  });
});

describe('notes', () => {
  test('10 active notes on free; archived notes count out; restoring past the limit is refused and changes nothing', async ({ db }) => {
    const u = await newUser(db);
    const first = await note(db, u, 'old');
    for (let i = 0; i < 9; i++) await note(db, u);
    expect(await refusal(note(db, u))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 10 } });
    await updateNote(db, { actor: u.actor, noteId: first.id, input: { archived: true } });
    await note(db, u, 'fits again');
    expect(await refusal(updateNote(db, { actor: u.actor, noteId: first.id, input: { archived: false, content: 'changed' } }))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 10 } });
    expect(await db.selectFrom('notes').select(['archived', 'content']).where('id', '=', first.id).executeTakeFirstOrThrow()).toEqual({ archived: true, content: 'old' });
    expect(await activeNotes(db, u.id)).toBe(10);
  });

  test('Pro has 25, and a max_notes perk adds to it', async ({ db }) => {
    const pro = await newUser(db, { tier: 'pro' });
    await unlock(db, pro.id, 'notes_10');
    for (let i = 0; i < 30; i++) await note(db, pro);
    expect(await refusal(note(db, pro))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 30 } });
  });

  test('voice notes need Pro (TIER_REQUIRED naming both tiers); nothing is created', async ({ db }) => {
    const u = await newUser(db);
    const voice = { content: 'Dictated', voice_url: 'https://media.example.com/a.webm', voice_duration_seconds: 42 };
    expect(await refusal(createNote(db, u.actor, voice))).toMatchObject({ code: 'TIER_REQUIRED', extras: { required_tier: 'pro', current_tier: 'free' } });
    expect(await activeNotes(db, u.id)).toBe(0);
    const pro = await newUser(db, { tier: 'pro' });
    expect(await createNote(db, pro.actor, voice)).toMatchObject({ voice_duration_seconds: 42, transcription_status: 'completed' });
  });
});

describe('subtasks', () => {
  test('4 per task on free, 10 on Pro; a batch that would pass the limit creates nothing', async ({ db }) => {
    const u = await newUser(db);
    const task = (await createTask(db, u.actor, { title: 'Free task' })).task;
    expect((await createSubtasks(db, { actor: u.actor, taskId: task.id, titles: ['a', 'b', 'c'], source: 'user' })).subtasks.map((s) => [s.title, s.order_index])).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]);
    expect(await refusal(createSubtasks(db, { actor: u.actor, taskId: task.id, titles: ['d', 'e'], source: 'ai' }))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 4 } });
    expect(await db.selectFrom('subtasks').select('id').where('task_id', '=', task.id).execute()).toHaveLength(3);
    await createSubtasks(db, { actor: u.actor, taskId: task.id, titles: ['d'], source: 'user' });

    const pro = await newUser(db, { tier: 'pro' });
    const proTask = (await createTask(db, pro.actor, { title: 'Pro task' })).task;
    await createSubtasks(db, { actor: pro.actor, taskId: proTask.id, titles: Array.from({ length: 10 }, (_, i) => `s${i}`), source: 'user' });
    expect(await refusal(createSubtasks(db, { actor: pro.actor, taskId: proTask.id, titles: ['eleventh'], source: 'user' }))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 10 } });
  });
});
