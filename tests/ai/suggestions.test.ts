import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { balanceOf, drainCredits, giveCredits, ledgerOf } from '../helpers/credits.js';
import { signUp, type TestUser } from '../helpers/users.js';

// POST /notes/{id}/convert and POST /ai/generate-subtasks: structured output, fitted to the user's
// limits and validated, suggestions only.

let ai: FakeOpenAI;
let t: TestApp;

beforeAll(async () => {
  ai = await startFakeOpenAI();
  t = await startTestApp({ env: { OPENAI_API_KEY: ai.apiKey, OPENAI_BASE_URL: ai.baseUrl } });
});
afterAll(async () => {
  await t?.close();
  await ai?.close();
});

const conversion = (over: Record<string, unknown> = {}) => ({
  title: 'Confirm the projector with the venue',
  description: 'Call the venue, then send the agenda to Grace.',
  priority: 'medium',
  due_date: new Date(Date.now() + 2 * 86_400_000).toISOString(),
  estimated_duration: 30,
  subtasks: [{ title: 'Call the venue' }, { title: 'Send the agenda to Grace' }],
  confidence: 0.86,
  ...over,
});
const newNote = async (u: TestUser, content = 'Call the venue about the projector, then send the agenda to Grace.') => {
  const res = await u.api.post('/notes', { content });
  expect(res.status).toBe(201);
  return res.body.data as { id: string; updated_at: string };
};
const newTask = async (u: TestUser, title = 'Write the quarterly report') => {
  const res = await u.api.post('/tasks', { title, description: 'Q4 numbers and outlook' });
  expect(res.status, res.text).toBe(201);
  return res.body.data as { id: string };
};

describe('convertNote', () => {
  beforeEach(() => ai.answer({ json: conversion() }));

  it('suggests a task with structured output, charges 1 credit and creates nothing', async () => {
    const u = await signUp(t);
    const note = await newNote(u);
    const res = await u.api.post(`/notes/${note.id}/convert`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      task_suggestion: {
        title: 'Confirm the projector with the venue',
        description: 'Call the venue, then send the agenda to Grace.',
        priority: 'medium',
        due_date: expect.stringMatching(/\.\d{3}Z$/),
        estimated_duration: 30,
        subtasks: [{ title: 'Call the venue' }, { title: 'Send the agenda to Grace' }],
      },
      confidence: 0.86,
      credits_used: 1,
      credits_remaining: 4,
    });
    const request = ai.requests.at(-1)!;
    expect(request.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'task_suggestion' } });
    expect(request.messages.at(-1)).toEqual({ role: 'user', content: 'Call the venue about the projector, then send the agenda to Grace.' });
    expect((await u.api.get('/tasks')).body.pagination.total).toBe(0);
    expect((await u.api.get(`/notes/${note.id}`)).body.data).toMatchObject({ archived: false, updated_at: note.updated_at });
    expect((await ledgerOf(t, u.id)).at(-1)).toMatchObject({ amount: -1, description: 'AI note conversion' });
  });

  it('fits the suggestion to the user’s limits: description length, subtask count, 30-day due date', async () => {
    const u = await signUp(t);
    const note = await newNote(u);
    ai.answer({
      json: conversion({
        title: '  Plan the offsite  ',
        description: 'd'.repeat(1500),
        due_date: new Date(Date.now() + 45 * 86_400_000).toISOString(),
        subtasks: ['a', 'b', '  ', 'c', 'd', 'e', 'f'].map((title) => ({ title })),
      }),
    });
    const res = await u.api.post(`/notes/${note.id}/convert`);
    expect(res.status).toBe(200);
    const s = res.body.data.task_suggestion;
    expect(s.title).toBe('Plan the offsite');
    expect(s.description).toHaveLength(1000);
    expect(s.due_date).toBeNull();
    expect(s.subtasks.map((x: { title: string }) => x.title)).toEqual(['a', 'b', 'c', 'd']);

    const pro = await signUp(t, { tier: 'pro' });
    const proNote = await newNote(pro);
    const proRes = await pro.api.post(`/notes/${proNote.id}/convert`);
    expect(proRes.body.data.task_suggestion.description).toHaveLength(1500);
    expect(proRes.body.data.task_suggestion.subtasks).toHaveLength(6);
  });

  it('turns a due date with an offset into UTC', async () => {
    const u = await signUp(t);
    const note = await newNote(u);
    const due = new Date(Date.now() + 86_400_000);
    due.setUTCMilliseconds(0);
    // the same instant written in UTC+02:00
    const withOffset = new Date(due.getTime() + 2 * 3_600_000).toISOString().replace(/\.\d{3}Z$/, '+02:00');
    ai.answer({ json: conversion({ due_date: withOffset }) });
    const res = await u.api.post(`/notes/${note.id}/convert`);
    expect(res.body.data.task_suggestion.due_date).toBe(due.toISOString());
  });

  it('counts each note once toward notes_10 and reports the unlock, whose perk raises the note limit', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 20);
    const notes = [];
    for (let i = 0; i < 10; i++) notes.push(await newNote(u, `Note ${i}`));
    for (let i = 0; i < 9; i++) {
      const res = await u.api.post(`/notes/${notes[i]!.id}/convert`);
      expect(res.body.unlocked_achievements).toBeUndefined();
    }
    // converting an already converted note again does not count
    expect((await u.api.post(`/notes/${notes[0]!.id}/convert`)).body.unlocked_achievements).toBeUndefined();
    const tenth = await u.api.post(`/notes/${notes[9]!.id}/convert`);
    expect(tenth.status).toBe(200);
    expect(tenth.body.unlocked_achievements).toEqual([{ id: 'notes_10', name: expect.any(String), description: expect.any(String), achievement_id: 'notes_10', achievement_name: expect.any(String), perk: { type: 'max_notes', value: 5 } }]);
    // the perk: 15 active notes instead of 10
    for (let i = 0; i < 5; i++) expect((await u.api.post('/notes', { content: `extra ${i}` })).status).toBe(201);
    expect((await u.api.post('/notes', { content: 'one too many' })).body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 15 });
  });

  it('refuses an archived note with 409 ARCHIVED, before calling the provider', async () => {
    const u = await signUp(t);
    const note = await newNote(u);
    await u.api.patch(`/notes/${note.id}`, { archived: true });
    const calls = ai.requests.length;
    const res = await u.api.post(`/notes/${note.id}/convert`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('ARCHIVED');
    expect(ai.requests.length).toBe(calls);
    expect((await balanceOf(t, u.id)).total).toBe(5);
  });

  it('answers 403 for another user’s note and 404 for a missing one, charging nothing', async () => {
    const u = await signUp(t);
    const other = await signUp(t);
    const theirs = await newNote(other, 'Their note');
    const calls = ai.requests.length;
    expect((await u.api.post(`/notes/${theirs.id}/convert`)).status).toBe(403);
    expect((await u.api.post(`/notes/${randomUUID()}/convert`)).status).toBe(404);
    expect(ai.requests.length).toBe(calls);
    expect((await balanceOf(t, u.id)).total).toBe(5);
    expect((await balanceOf(t, other.id)).total).toBe(5);
  });

  it('answers 402 without credits', async () => {
    const u = await signUp(t);
    const note = await newNote(u);
    await drainCredits(t, u.id);
    const res = await u.api.post(`/notes/${note.id}/convert`);
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', credits_required: 1, credits_available: 0 });
  });

  it.each([
    ['content that is not JSON', { content: 'Sure! Here is a task: Call the venue' }],
    ['a suggestion without a title', { json: conversion({ title: '' }) }],
    ['an unknown priority', { json: conversion({ priority: 'urgent' }) }],
    ['a confidence outside 0..1', { json: conversion({ confidence: 7 }) }],
    ['a provider error', { fail: 503 }],
  ])('%s → 503, nothing charged, note unchanged', async (_what, reply) => {
    const u = await signUp(t);
    const note = await newNote(u);
    ai.answer(reply);
    const res = await u.api.post(`/notes/${note.id}/convert`);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('AI_SERVICE_UNAVAILABLE');
    expect((await balanceOf(t, u.id)).total).toBe(5);
    const row = await t.db.selectFrom('notes').select('converted_at').where('id', '=', note.id).executeTakeFirstOrThrow();
    expect(row.converted_at).toBeNull();
  });

  it('a provider that stalls past OPENAI_TIMEOUT_MS → 503, nothing charged', async () => {
    const quick = await startTestApp({ env: { OPENAI_API_KEY: ai.apiKey, OPENAI_BASE_URL: ai.baseUrl, OPENAI_TIMEOUT_MS: '800' } });
    try {
      const u = await signUp(quick);
      const note = (await u.api.post('/notes', { content: 'Call the venue' })).body.data;
      ai.answer({ stall: true });
      const res = await u.api.post(`/notes/${note.id}/convert`);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('AI_SERVICE_UNAVAILABLE');
      expect((await balanceOf(quick, u.id)).total).toBe(5);
    } finally {
      await quick.close();
    }
  });
});

describe('generateSubtasks', () => {
  beforeEach(() => ai.answer({ json: { subtasks: [{ title: 'Collect the sales figures' }, { title: 'Draft the summary' }, { title: 'Review with Grace' }] } }));

  it('suggests subtasks (nothing created), charges 1 credit and counts the task', async () => {
    const u = await signUp(t);
    const task = await newTask(u);
    const res = await u.api.post('/ai/generate-subtasks', { task_id: task.id });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      suggested_subtasks: [{ title: 'Collect the sales figures' }, { title: 'Draft the summary' }, { title: 'Review with Grace' }],
      credits_used: 1,
      credits_remaining: 4,
      ai_request_warning: false,
    });
    expect(ai.requests.at(-1)!.response_format).toMatchObject({ type: 'json_schema' });
    expect(JSON.stringify(ai.requests.at(-1)!.messages)).toContain('Write the quarterly report');
    expect((await u.api.get(`/tasks/${task.id}`)).body.data.subtasks).toEqual([]);
    const counter = await t.db.selectFrom('ai_task_counters').select('count').where('task_id', '=', task.id).executeTakeFirstOrThrow();
    expect(counter.count).toBe(1);
  });

  it('caps the suggestions at the room left under the subtask limit and skips existing titles', async () => {
    const u = await signUp(t);
    const task = await newTask(u);
    await u.api.post(`/tasks/${task.id}/subtasks`, { title: 'Draft the summary' });
    await u.api.post(`/tasks/${task.id}/subtasks`, { title: 'Book a room' });
    ai.answer({ json: { subtasks: ['Draft the summary', 'A', 'B', 'C', 'D'].map((title) => ({ title })) } });
    const res = await u.api.post('/ai/generate-subtasks', { task_id: task.id });
    expect(res.body.data.suggested_subtasks).toEqual([{ title: 'A' }, { title: 'B' }]);
    expect(JSON.stringify(ai.requests.at(-1)!.messages)).toContain('Book a room');
  });

  it('refuses a full task (409 LIMIT_EXCEEDED) and an archived one (409 ARCHIVED) before the provider', async () => {
    const u = await signUp(t);
    const full = await newTask(u, 'Full');
    for (const title of ['a', 'b', 'c', 'd']) await u.api.post(`/tasks/${full.id}/subtasks`, { title });
    const archivedTask = await newTask(u, 'Archived');
    const v = (await u.api.get(`/tasks/${archivedTask.id}`)).body.data.version;
    expect((await u.api.patch(`/tasks/${archivedTask.id}`, { archived: true, version: v })).status).toBe(200);
    const calls = ai.requests.length;
    const fullRes = await u.api.post('/ai/generate-subtasks', { task_id: full.id });
    expect(fullRes.status).toBe(409);
    expect(fullRes.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 4 });
    expect((await u.api.post('/ai/generate-subtasks', { task_id: archivedTask.id })).body.error.code).toBe('ARCHIVED');
    expect(ai.requests.length).toBe(calls);
    expect((await balanceOf(t, u.id)).total).toBe(5);
  });

  it('answers 403 for another user’s task, 404 for a missing one, 400 for a bad id', async () => {
    const u = await signUp(t);
    const other = await signUp(t);
    const theirs = await newTask(other);
    expect((await u.api.post('/ai/generate-subtasks', { task_id: theirs.id })).status).toBe(403);
    expect((await u.api.post('/ai/generate-subtasks', { task_id: randomUUID() })).status).toBe(404);
    expect((await u.api.post('/ai/generate-subtasks', { task_id: 'nope' })).status).toBe(400);
    expect((await u.api.post('/ai/generate-subtasks', {})).status).toBe(400);
    expect((await balanceOf(t, u.id)).total).toBe(5);
  });

  it('shares the per-task counter with chat: warning from the 5th, 429 on the 11th', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 20);
    const task = await newTask(u);
    ai.answer((req) => (req.response_format ? { json: { subtasks: [{ title: 'One step' }] } } : { content: 'ok' }));
    const warnings = [];
    for (let i = 0; i < 10; i++) {
      const res = i % 2 ? await u.api.post('/ai/chat', { message: 'Hi', task_id: task.id }) : await u.api.post('/ai/generate-subtasks', { task_id: task.id });
      expect(res.status).toBe(200);
      warnings.push(res.body.data.ai_request_warning);
    }
    expect(warnings.indexOf(true)).toBe(4);
    const refused = await u.api.post('/ai/generate-subtasks', { task_id: task.id });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('AI_TASK_LIMIT_REACHED');
    expect((await balanceOf(t, u.id)).total).toBe(15);
  });

  it.each([
    ['no usable subtask', { json: { subtasks: [{ title: '   ' }] } }],
    ['not JSON', { content: 'Step one: collect figures' }],
    ['a title over 200 characters is cut, not refused', null],
    ['a provider error', { fail: 500 }],
  ])('%s', async (what, reply) => {
    const u = await signUp(t);
    const task = await newTask(u);
    if (reply === null) {
      ai.answer({ json: { subtasks: [{ title: 'x'.repeat(250) }] } });
      const res = await u.api.post('/ai/generate-subtasks', { task_id: task.id });
      expect(res.status).toBe(200);
      expect(res.body.data.suggested_subtasks[0].title).toHaveLength(200);
      return;
    }
    ai.answer(reply);
    const res = await u.api.post('/ai/generate-subtasks', { task_id: task.id });
    expect(res.status, what).toBe(503);
    expect((await balanceOf(t, u.id)).total).toBe(5);
    // the slot reserved with the credit was given back with it
    const counted = await t.db.selectFrom('ai_task_counters').select('count').where('task_id', '=', task.id).execute();
    expect(counted.reduce((sum, c) => sum + c.count, 0)).toBe(0);
  });
});
