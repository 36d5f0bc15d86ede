import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { balanceOf, drainCredits, expectConsistentLedger, giveCredits, ledgerOf } from '../helpers/credits.js';
import { createPersonalToken } from '../helpers/resources.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { parseChatEvents } from './sse.js';

let ai: FakeOpenAI;
let t: TestApp;
/** The same provider with a short OPENAI_TIMEOUT_MS, for the tests where it stalls. */
let quick: TestApp;

beforeAll(async () => {
  ai = await startFakeOpenAI();
  t = await startTestApp({ env: { OPENAI_API_KEY: ai.apiKey, OPENAI_BASE_URL: ai.baseUrl } });
  quick = await startTestApp({ env: { OPENAI_API_KEY: ai.apiKey, OPENAI_BASE_URL: ai.baseUrl, OPENAI_TIMEOUT_MS: '800' } });
});
afterAll(async () => {
  await t?.close();
  await quick?.close();
  await ai?.close();
});
beforeEach(() => ai.answer({ content: 'Start with the sales figures.' }));

const SSE = { accept: 'text/event-stream' };
const newTask = async (u: TestUser, title = 'Write the quarterly report', extra: Record<string, unknown> = {}) => {
  const res = await u.api.post('/tasks', { title, ...extra });
  expect(res.status, res.text).toBe(201);
  return res.body.data as { id: string; version: number };
};
const promptOf = (i = -1) => JSON.stringify(ai.requests.at(i)?.messages);

describe('chatWithAssistant (JSON)', () => {
  it('answers, charges 1 credit in the ledger and logs the request', async () => {
    const u = await signUp(t);
    const res = await u.api.post('/ai/chat', { message: 'What should I do first?' }, { headers: { 'x-request-id': '0b9e8a9e-3f4c-4a57-9d36-1c1f5c0c6a42' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ response: 'Start with the sales figures.', suggested_actions: [], credits_used: 1, credits_remaining: 4, ai_request_warning: false });
    expect(ai.requests.at(-1)!.messages.at(-1)).toEqual({ role: 'user', content: 'What should I do first?' });
    expect((await ledgerOf(t, u.id)).at(-1)).toMatchObject({ type: 'deduct', category: 'ai', amount: -1, balance_after: 4, description: 'AI chat', operation_ref: 'ai_chat:0b9e8a9e-3f4c-4a57-9d36-1c1f5c0c6a42' });
    const log = await t.db.selectFrom('activity_logs').selectAll().where('user_id', '=', u.id).where('entity_type', '=', 'ai_chat').execute();
    expect(log).toHaveLength(1);
    expect(log[0]!.extra_data).toMatchObject({ credits_used: 1 });
  });

  it('turns tool calls into validated suggestions, never executing them', async () => {
    const u = await signUp(t);
    const task = await newTask(u);
    ai.answer({
      content: 'Here is a plan.',
      toolCalls: [
        { name: 'suggest_create_subtasks', arguments: { summary: 'Add two subtasks', task_id: task.id, subtasks: [{ title: 'Collect figures' }, { title: 'Draft summary' }] } },
        { name: 'suggest_update_task', arguments: { summary: 'Raise the priority', task_id: task.id, changes: { priority: 'high' } } },
        { name: 'suggest_complete_task', arguments: { summary: 'Mark it done', task_id: task.id } },
        { name: 'suggest_create_task', arguments: { summary: 'Ask Finance', task: { title: 'Ask Finance for the Q4 figures', priority: 'high' } } },
      ],
    });
    const res = await u.api.post('/ai/chat', { message: 'Plan this', task_id: task.id });
    expect(res.status).toBe(200);
    expect(res.body.data.suggested_actions).toEqual([
      { type: 'create_subtasks', task_id: task.id, description: 'Add two subtasks', data: { task_id: task.id, subtasks: [{ title: 'Collect figures' }, { title: 'Draft summary' }] } },
      { type: 'update_task', task_id: task.id, description: 'Raise the priority', data: { task_id: task.id, version: task.version, priority: 'high' } },
      { type: 'complete_task', task_id: task.id, description: 'Mark it done', data: { task_id: task.id } },
      { type: 'create_task', description: 'Ask Finance', data: { title: 'Ask Finance for the Q4 figures', priority: 'high' } },
    ]);
    const after = await u.api.get(`/tasks/${task.id}`);
    expect(after.body.data).toMatchObject({ priority: 'medium', completed: false, subtasks: [], version: task.version });
    expect((await u.api.get('/tasks')).body.pagination.total).toBe(1);
    // the model saw the task, and the tools for existing tasks
    expect(promptOf()).toContain(task.id);
    expect(ai.requests.at(-1)!.tools!.map((tool) => tool.function.name)).toContain('suggest_update_task');
  });

  it('drops a suggestion about a task it was not shown (e.g. another user’s)', async () => {
    const u = await signUp(t);
    const other = await signUp(t);
    const theirs = await newTask(other, 'Their secret task');
    ai.answer({ content: 'Done?', toolCalls: [{ name: 'suggest_complete_task', arguments: { summary: 'Complete it', task_id: theirs.id } }] });
    const res = await u.api.post('/ai/chat', { message: 'Anything to complete?', context: { include_tasks: true } });
    expect(res.status).toBe(200);
    expect(res.body.data.suggested_actions).toEqual([]);
  });

  it('shows the model only the caller’s open, visible tasks, earliest due first', async () => {
    const u = await signUp(t);
    const other = await signUp(t);
    await newTask(other, 'Bob private plans');
    const later = await newTask(u, 'Later task', { due_date: new Date(Date.now() + 5 * 86_400_000).toISOString() });
    const sooner = await newTask(u, 'Sooner task', { due_date: new Date(Date.now() + 86_400_000).toISOString() });
    const undated = await newTask(u, 'Undated task');
    const hidden = await newTask(u, 'Hidden task');
    await u.api.patch(`/tasks/${hidden.id}`, { hidden: true });
    const done = await newTask(u, 'Finished task');
    await u.api.patch(`/tasks/${done.id}`, { completed: true });

    const res = await u.api.post('/ai/chat', { message: 'What is next?', context: { include_tasks: true, task_limit: 2 } });
    expect(res.status).toBe(200);
    const prompt = promptOf();
    expect(prompt.indexOf(sooner.id)).toBeGreaterThan(-1);
    expect(prompt.indexOf(later.id)).toBeGreaterThan(prompt.indexOf(sooner.id));
    for (const absent of [undated.id, hidden.id, done.id, 'Bob private plans']) expect(prompt).not.toContain(absent);

    await u.api.post('/ai/chat', { message: 'Anything?' });
    expect(promptOf()).not.toContain(sooner.id);
    expect(ai.requests.at(-1)!.tools!.map((tool) => tool.function.name)).toEqual(['suggest_create_task']);
  });

  it('answers 403 for another user’s task and 404 for a missing one, without calling the provider or charging', async () => {
    const u = await signUp(t);
    const other = await signUp(t);
    const theirs = await newTask(other);
    const calls = ai.requests.length;
    const forbidden = await u.api.post('/ai/chat', { message: 'Hi', task_id: theirs.id });
    expect(forbidden.status).toBe(403);
    expect((await u.api.post('/ai/chat', { message: 'Hi', task_id: randomUUID() })).status).toBe(404);
    expect(ai.requests.length).toBe(calls);
    expect((await balanceOf(t, u.id)).total).toBe(5);
  });

  it.each([
    [{ message: '   ' }, 'body.message'],
    [{ message: '' }, 'body.message'],
    [{ message: 'x'.repeat(2001) }, 'body.message'],
    [{ message: 'hi', context: { task_limit: 51 } }, 'body.context.task_limit'],
    [{ message: 'hi', task_id: 'not-a-uuid' }, 'body.task_id'],
    [{ message: 'hi', model: 'gpt-5' }, 'body.model'],
  ])('rejects %j with 400 naming %s, charging nothing', async (body, field) => {
    const u = await signUp(t);
    const res = await u.api.post('/ai/chat', body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    expect((await balanceOf(t, u.id)).total).toBe(5);
  });

  it('answers 402 with the balance when no credit is left, without calling the provider', async () => {
    const u = await signUp(t);
    await drainCredits(t, u.id);
    const calls = ai.requests.length;
    const res = await u.api.post('/ai/chat', { message: 'Hi' });
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', credits_required: 1, credits_available: 0 });
    expect(ai.requests.length).toBe(calls);
  });

  it('charges two requests that reuse a client-chosen X-Request-ID like any two requests', async () => {
    const u = await signUp(t);
    const headers = { 'x-request-id': randomUUID() };
    expect((await u.api.post('/ai/chat', { message: 'One' }, { headers })).status).toBe(200);
    expect((await u.api.post('/ai/chat', { message: 'Two' }, { headers })).status).toBe(200);
    expect((await balanceOf(t, u.id)).total).toBe(3);
  });

  it('needs a token and an Idempotency-Key', async () => {
    expect((await t.api.post('/ai/chat', { message: 'Hi' })).status).toBe(401);
    const u = await signUp(t);
    const res = await u.api.post('/ai/chat', { message: 'Hi' }, { idempotencyKey: null });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
  });
});

describe('provider failures charge nothing', () => {
  it.each([
    ['an error status', { fail: 500 }],
    ['a rate-limited provider', { fail: 429 }],
    ['an unreadable answer', { garbage: true as const }],
    ['a broken tool call', { content: 'x', toolCalls: [{ name: 'suggest_create_task', arguments: '{"summary": "x", "task": ' }] }],
    ['a tool call that fails the schema', { content: 'x', toolCalls: [{ name: 'suggest_create_task', arguments: { summary: 'x', task: { title: '' } } }] }],
    ['an unknown tool', { content: 'x', toolCalls: [{ name: 'delete_everything', arguments: {} }] }],
  ])('%s → 503 AI_SERVICE_UNAVAILABLE, balance unchanged', async (_what, reply) => {
    const u = await signUp(t);
    ai.answer(reply);
    const res = await u.api.post('/ai/chat', { message: 'Hi' });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('AI_SERVICE_UNAVAILABLE');
    expect((await balanceOf(t, u.id)).total).toBe(5);
    // the credit was reserved before the provider was asked, and refunded
    const [, reserved, refund] = await ledgerOf(t, u.id);
    expect(reserved).toMatchObject({ type: 'deduct', category: 'ai', amount: -1 });
    expect(refund).toMatchObject({ type: 'grant', category: 'ai', amount: 1, operation_ref: `refund:${reserved!.id}` });
    await expectConsistentLedger(t, u.id, expect);
  });

  it('a provider that stalls past OPENAI_TIMEOUT_MS → 503 naming the timeout, nothing charged', async () => {
    const u = await signUp(quick);
    ai.answer({ stall: true });
    const started = Date.now();
    const res = await u.api.post('/ai/chat', { message: 'Hi' });
    expect(res.status).toBe(503);
    expect(res.body.error.message).toMatch(/did not answer within/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await balanceOf(quick, u.id)).total).toBe(5);
  });

  it('a missing OPENAI_API_KEY → 503 naming the variable', async () => {
    const bare = await startTestApp();
    try {
      const u = await signUp(bare);
      const res = await u.api.post('/ai/chat', { message: 'Hi' });
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'AI_SERVICE_UNAVAILABLE', message: expect.stringContaining('OPENAI_API_KEY') });
      expect((await balanceOf(bare, u.id)).total).toBe(5);
    } finally {
      await bare.close();
    }
  });

  it('a retry with the same Idempotency-Key after a 503 runs again', async () => {
    const u = await signUp(t);
    const key = randomUUID();
    ai.answerOnce({ fail: 502 });
    expect((await u.api.post('/ai/chat', { message: 'Hi' }, { idempotencyKey: key })).status).toBe(503);
    const retry = await u.api.post('/ai/chat', { message: 'Hi' }, { idempotencyKey: key });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
  });
});

describe('the per-task counter (FR-035)', () => {
  it('warns from the 5th request, refuses the 11th without charging, and restarts with a refresh or a new sign-in', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 20);
    const task = await newTask(u);
    const warnings: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await u.api.post('/ai/chat', { message: `Question ${i}`, task_id: task.id });
      expect(res.status).toBe(200);
      warnings.push(res.body.data.ai_request_warning);
    }
    expect(warnings).toEqual([false, false, false, false, true, true, true, true, true, true]);
    const calls = ai.requests.length;
    const refused = await u.api.post('/ai/chat', { message: 'One more', task_id: task.id });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('AI_TASK_LIMIT_REACHED');
    expect(ai.requests.length).toBe(calls);
    expect((await balanceOf(t, u.id)).total).toBe(15);

    // other tasks and requests without a task are not limited
    const other = await newTask(u, 'Another task');
    expect((await u.api.post('/ai/chat', { message: 'Hi', task_id: other.id })).body.data.ai_request_warning).toBe(false);
    expect((await u.api.post('/ai/chat', { message: 'Hi' })).status).toBe(200);

    // A new access token is a session change for the counters (seed plan, FR-035): a refresh
    // restarts them, while the token it replaced keeps its own count.
    const refreshed = await t.api.post('/auth/refresh', { refresh_token: u.refreshToken });
    const afterRefresh = await t.api.as(refreshed.body.access_token).post('/ai/chat', { message: 'Again', task_id: task.id });
    expect(afterRefresh.status).toBe(200);
    expect(afterRefresh.body.data.ai_request_warning).toBe(false);
    expect((await u.api.post('/ai/chat', { message: 'Old token', task_id: task.id })).status).toBe(429);
    // signing in again starts a new one too
    const again = await signUp(t, { email: u.email });
    const fresh = await again.api.post('/ai/chat', { message: 'New session', task_id: task.id });
    expect(fresh.status).toBe(200);
    expect(fresh.body.data.ai_request_warning).toBe(false);
  });

  it('does not count failed requests', async () => {
    const u = await signUp(t);
    const task = await newTask(u);
    ai.answer({ fail: 500 });
    for (let i = 0; i < 11; i++) expect((await u.api.post('/ai/chat', { message: 'Hi', task_id: task.id })).status).toBe(503);
    ai.answer({ content: 'ok' });
    const res = await u.api.post('/ai/chat', { message: 'Hi', task_id: task.id });
    expect(res.status).toBe(200);
    expect(res.body.data.ai_request_warning).toBe(false);
  });

  it('counts concurrent requests atomically: never more than 10 succeed', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 20);
    const task = await newTask(u);
    const results = await Promise.all(Array.from({ length: 15 }, (_, i) => u.api.post('/ai/chat', { message: `Q${i}`, task_id: task.id })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    expect(results.filter((r) => r.status === 429)).toHaveLength(5);
    expect((await balanceOf(t, u.id)).total).toBe(15);
    const counter = await t.db.selectFrom('ai_task_counters').selectAll().where('user_id', '=', u.id).executeTakeFirstOrThrow();
    expect(counter.count).toBe(10);
  });

  it('gives back the slot of a counted request refused for its credits: 12 parallel on one task with 4 credits → 4 answers, 8 × 402, a counter of 4', async () => {
    const u = await signUp(t);
    await drainCredits(t, u.id);
    await giveCredits(t, u.id, 'purchased', 4);
    const task = await newTask(u);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => u.api.post('/ai/chat', { message: `Q${i}`, task_id: task.id })));
    expect(results.map((r) => r.status).sort()).toEqual([...Array(4).fill(200), ...Array(8).fill(402)]);
    const counter = await t.db.selectFrom('ai_task_counters').selectAll().where('user_id', '=', u.id).executeTakeFirstOrThrow();
    expect(counter.count).toBe(4);
    expect((await balanceOf(t, u.id)).total).toBe(0);
    await expectConsistentLedger(t, u.id, expect);
  });
});

describe('concurrent AI requests', () => {
  it('50 parallel requests on a balance of 20: exactly 20 succeed, the balance ends at 0, the ledger adds up', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 15);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => u.api.post('/ai/chat', { message: `Question ${i}` })));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(20);
    expect(results.filter((r) => r.status === 402)).toHaveLength(30);
    expect(ok.map((r) => r.body.data.credits_remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await balanceOf(t, u.id)).toEqual({ kickstart: 0, daily: 0, subscription: 0, purchased: 0, total: 0 });
    await expectConsistentLedger(t, u.id, expect);
  });
});

describe('streaming chat (Server-Sent Events)', () => {
  it('streams delta events and ends with done, charging 1 credit', async () => {
    const u = await signUp(t);
    ai.answer({ content: 'Split the report into three parts and start with the figures.' });
    const res = await u.api.post('/ai/chat', { message: 'Help' }, { headers: SSE });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const events = parseChatEvents(res.text);
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(events.at(-1)!.event).toBe('done');
    const done = events.at(-1)!.data;
    expect(deltas.map((e) => e.data.text).join('')).toBe(done.response);
    expect(done).toMatchObject({ response: 'Split the report into three parts and start with the figures.', credits_used: 1, credits_remaining: 4, ai_request_warning: false });
    expect(ai.requests.at(-1)!.stream).toBe(true);
    expect((await balanceOf(t, u.id)).total).toBe(4);
  });

  it('carries suggested actions from streamed tool calls in done', async () => {
    const u = await signUp(t);
    ai.answer({ content: 'Sure.', toolCalls: [{ name: 'suggest_create_task', arguments: { summary: 'Create it', task: { title: 'Book the venue' } } }] });
    const res = await u.api.post('/ai/chat', { message: 'Remind me to book the venue' }, { headers: SSE });
    const done = parseChatEvents(res.text).at(-1)!;
    expect(done.data.suggested_actions).toEqual([{ type: 'create_task', description: 'Create it', data: { title: 'Book the venue' } }]);
  });

  it('answers JSON when Accept does not prefer the stream', async () => {
    const u = await signUp(t);
    const res = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: { accept: 'application/json, text/event-stream;q=0.5' } });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body.data.credits_used).toBe(1);
  });

  it('reports a provider that breaks off mid-answer as an error event and charges nothing; the key can be retried', async () => {
    const u = await signUp(t);
    const key = randomUUID();
    ai.answerOnce({ content: 'one two three four five six', dropAfterChunks: 2, chunkDelayMs: 30 });
    const res = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE, idempotencyKey: key });
    expect(res.status).toBe(200);
    const events = parseChatEvents(res.text);
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'AI_SERVICE_UNAVAILABLE' } });
    expect(events.filter((e) => e.event === 'done')).toHaveLength(0);
    expect((await balanceOf(t, u.id)).total).toBe(5);

    const retry = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE, idempotencyKey: key });
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(parseChatEvents(retry.text).at(-1)!.event).toBe('done');
    expect((await balanceOf(t, u.id)).total).toBe(4);
  });

  it('ends a stream that stalls past the timeout with an error event, nothing charged', async () => {
    const u = await signUp(quick);
    ai.answer({ content: 'one two three four', stallAfterChunks: 1 });
    const res = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE });
    expect(parseChatEvents(res.text).at(-1)).toMatchObject({ event: 'error', data: { code: 'AI_SERVICE_UNAVAILABLE' } });
    expect((await balanceOf(quick, u.id)).total).toBe(5);
  });

  it('answers a provider that is down or silent before the first piece as a JSON 503', async () => {
    const u = await signUp(t);
    ai.answer({ fail: 500 });
    const down = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE });
    expect(down.status).toBe(503);
    expect(down.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await balanceOf(t, u.id)).total).toBe(5);
    const v = await signUp(quick);
    ai.answer({ stall: true });
    const silent = await v.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE });
    expect(silent.status).toBe(503);
    expect(silent.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await balanceOf(quick, v.id)).total).toBe(5);
  });

  it('runs every check before streaming: 402 and 429 arrive as JSON errors', async () => {
    const u = await signUp(t);
    await drainCredits(t, u.id);
    const res = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE });
    expect(res.status).toBe(402);
    expect(res.body.error.code).toBe('INSUFFICIENT_CREDITS');
  });

  it('stops generating and charges nothing when the client disconnects mid-answer', async () => {
    const u = await signUp(t);
    const key = randomUUID();
    ai.answer({ content: 'a b c d e f g h i j k l m n o p', chunkDelayMs: 100 });
    const abort = new AbortController();
    // Raw fetch (unchecked by design): the client leaves before the response is complete.
    const res = await fetch(`${t.baseUrl}/api/v1/ai/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json', 'idempotency-key': key, ...SSE },
      body: JSON.stringify({ message: 'Hi' }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    // the stream's end releases the key: then nothing can be charged any more
    await expect.poll(() => t.db.selectFrom('idempotency_keys').select('key').where('key', '=', key).executeTakeFirst(), { timeout: 5000 }).toBeUndefined();
    expect((await balanceOf(t, u.id)).total).toBe(5);
  });

  it('serves the deprecated /ai/chat/stream as a stream whatever Accept says, with Deprecation and Sunset', async () => {
    const u = await signUp(t);
    const res = await u.api.post('/ai/chat/stream', { message: 'Hi' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('deprecation')).toMatch(/^@\d+$/);
    expect(res.headers.get('sunset')).toMatch(/GMT$/);
    expect(parseChatEvents(res.text).at(-1)!.event).toBe('done');
  });
});

describe('a personal token on a stream', () => {
  // The fuzzer found it: the stream (written under its Idempotency-Key, which AI calls require) was
  // ended before the token's last_used_at was written, so a client that had seen the end could
  // still see that write land.
  it('notes the token\'s last use before the stream ends', async () => {
    const u = await signUp(t);
    const { id, token } = await createPersonalToken(u, ['ai:use']);
    const lock = new pg.Client({ connectionString: t.databaseUrl });
    await lock.connect();
    try {
      await lock.query('begin');
      await lock.query('select 1 from personal_access_tokens where id = $1 for update', [id]);
      let ended = false;
      const answer = t.api
        .as(token)
        .post('/ai/chat/stream', { message: 'Hi' })
        .finally(() => (ended = true));
      await new Promise((r) => setTimeout(r, 500)); // the fake provider answers at once
      expect(ended, 'the stream ended while its token\'s last use was still unwritten').toBe(false);
      await lock.query('commit');
      const res = await answer;
      expect(res.status, res.text).toBe(200);
      expect(parseChatEvents(res.text).at(-1)!.event).toBe('done');
      const row = await t.db.selectFrom('personal_access_tokens').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow();
      expect(row.last_used_at).toBeInstanceOf(Date);
    } finally {
      await lock.end();
    }
  });
});

describe('streams pay before the first piece (review finding 1)', () => {
  const history = async (u: TestUser) => {
    const res = await u.api.get('/credits/history', { query: { limit: 100 } });
    expect(res.status).toBe(200);
    return res.body.data as { id: string; type: string; category: string; amount: number; balance_after: number; description: string; operation_ref: string }[];
  };

  it('10 parallel streams on a balance of 1: one answer, nine JSON 402s before any event, the provider asked once', async () => {
    const u = await signUp(t);
    await drainCredits(t, u.id);
    await giveCredits(t, u.id, 'purchased', 1);
    // slow enough that every request arrives while the paid one is still streaming
    ai.answer({ content: 'one two three four five six seven eight', chunkDelayMs: 25 });
    const calls = ai.requests.length;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? u.api.post('/ai/chat/stream', { message: `Q${i}` }) : u.api.post('/ai/chat', { message: `Q${i}` }, { headers: SSE }))),
    );
    const streamed = results.filter((r) => r.status === 200);
    expect(streamed).toHaveLength(1);
    const events = parseChatEvents(streamed[0]!.text);
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { credits_used: 1, credits_remaining: 0 } });
    const refused = results.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(9);
    for (const r of refused) {
      expect(r.status).toBe(402);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r.body.error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', credits_required: 1, credits_available: 0 });
    }
    expect(ai.requests.length - calls).toBe(1);
    expect((await balanceOf(t, u.id)).total).toBe(0);
    const charges = (await ledgerOf(t, u.id)).filter((e) => e.category === 'ai');
    expect(charges.map((e) => [e.type, e.amount])).toEqual([['deduct', -1]]);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('15 parallel streams on one task: 10 answers, 5 JSON 429s, 10 credits and a counter of 10', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 20);
    const task = await newTask(u);
    ai.answer({ content: 'one two three four five six', chunkDelayMs: 25 });
    const calls = ai.requests.length;
    const results = await Promise.all(Array.from({ length: 15 }, (_, i) => u.api.post('/ai/chat', { message: `Q${i}`, task_id: task.id }, { headers: SSE })));
    const answered = results.filter((r) => r.status === 200);
    expect(answered).toHaveLength(10);
    for (const r of answered) expect(parseChatEvents(r.text).at(-1)!.event).toBe('done');
    expect(answered.map((r) => parseChatEvents(r.text).at(-1)!.data.ai_request_warning).filter(Boolean)).toHaveLength(6);
    const refused = results.filter((r) => r.status !== 200);
    expect(refused.map((r) => [r.status, r.body.error.code])).toEqual(Array.from({ length: 5 }, () => [429, 'AI_TASK_LIMIT_REACHED']));
    expect(ai.requests.length - calls).toBe(10);
    expect((await balanceOf(t, u.id)).total).toBe(15);
    const counter = await t.db.selectFrom('ai_task_counters').selectAll().where('user_id', '=', u.id).executeTakeFirstOrThrow();
    expect(counter.count).toBe(10);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('a provider failure mid-stream refunds the reservation: balance unchanged, the history shows the charge and its refund, the task slot is free', async () => {
    const u = await signUp(t);
    const task = await newTask(u);
    ai.answerOnce({ content: 'one two three four five six', dropAfterChunks: 2, chunkDelayMs: 20 });
    const res = await u.api.post('/ai/chat', { message: 'Hi', task_id: task.id }, { headers: SSE });
    const events = parseChatEvents(res.text);
    expect(events.filter((e) => e.event === 'delta').length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'AI_SERVICE_UNAVAILABLE' } });
    expect((await balanceOf(t, u.id)).total).toBe(5);

    const [refund, charge, kickstart] = await history(u);
    expect(kickstart).toMatchObject({ type: 'grant', category: 'kickstart', amount: 5 });
    expect(charge).toMatchObject({ type: 'deduct', category: 'ai', amount: -1, balance_after: 4, description: 'AI chat' });
    expect(refund).toMatchObject({ type: 'grant', category: 'ai', amount: 1, balance_after: 5, operation_ref: `refund:${charge!.id}` });
    await expectConsistentLedger(t, u.id, expect);
    const counter = await t.db.selectFrom('ai_task_counters').select('count').where('user_id', '=', u.id).executeTakeFirstOrThrow();
    expect(counter.count).toBe(0);
    // the refunded credit goes back to the kind it came from
    expect(await balanceOf(t, u.id)).toMatchObject({ kickstart: 5 });
  });

  it('a provider that is down before the first piece: JSON 503, the reservation refunded', async () => {
    const u = await signUp(t);
    ai.answerOnce({ fail: 500 });
    const res = await u.api.post('/ai/chat/stream', { message: 'Hi' });
    expect(res.status).toBe(503);
    expect((await balanceOf(t, u.id)).total).toBe(5);
    const [refund, charge] = await history(u);
    expect(refund).toMatchObject({ type: 'grant', category: 'ai', amount: 1, operation_ref: `refund:${charge!.id}` });
    await expectConsistentLedger(t, u.id, expect);
  });

  it('a client that leaves mid-answer gets its reservation refunded', async () => {
    const u = await signUp(t);
    const key = randomUUID();
    ai.answer({ content: 'a b c d e f g h i j k l m n o p', chunkDelayMs: 100 });
    const abort = new AbortController();
    // Raw fetch (unchecked by design): the client leaves before the response is complete.
    const res = await fetch(`${t.baseUrl}/api/v1/ai/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ message: 'Hi' }),
      signal: abort.signal,
    });
    await res.body!.getReader().read();
    abort.abort();
    await expect.poll(() => t.db.selectFrom('idempotency_keys').select('key').where('key', '=', key).executeTakeFirst(), { timeout: 5000 }).toBeUndefined();
    expect((await balanceOf(t, u.id)).total).toBe(5);
    expect((await history(u)).map((e) => [e.type, e.category, e.amount])).toEqual([
      ['grant', 'ai', 1],
      ['deduct', 'ai', -1],
      ['grant', 'kickstart', 5],
    ]);
  });

  it('a missing OPENAI_API_KEY answers the stream with a JSON 503 before anything is reserved', async () => {
    const bare = await startTestApp();
    try {
      const u = await signUp(bare);
      const res = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE });
      expect(res.status).toBe(503);
      expect(res.body.error.message).toContain('OPENAI_API_KEY');
      expect(await ledgerOf(bare, u.id)).toHaveLength(1);
    } finally {
      await bare.close();
    }
  });
});

describe('idempotent replays', () => {
  it('replays a JSON answer without charging again', async () => {
    const u = await signUp(t);
    const key = randomUUID();
    const first = await u.api.post('/ai/chat', { message: 'Hi' }, { idempotencyKey: key });
    const again = await u.api.post('/ai/chat', { message: 'Hi' }, { idempotencyKey: key });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect((await balanceOf(t, u.id)).total).toBe(4);
  });

  it('stores a finished stream as its final JSON and replays it as JSON or as one delta plus done', async () => {
    const u = await signUp(t);
    const key = randomUUID();
    ai.answer({ content: 'Three parts, figures first.' });
    const streamed = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE, idempotencyKey: key });
    const done = parseChatEvents(streamed.text).at(-1)!.data;

    const asJson = await u.api.post('/ai/chat', { message: 'Hi' }, { idempotencyKey: key });
    expect(asJson.headers.get('idempotent-replayed')).toBe('true');
    expect(asJson.body).toEqual({ data: done });

    const asStream = await u.api.post('/ai/chat', { message: 'Hi' }, { headers: SSE, idempotencyKey: key });
    expect(asStream.headers.get('idempotent-replayed')).toBe('true');
    expect(parseChatEvents(asStream.text)).toEqual([
      { event: 'delta', data: { text: 'Three parts, figures first.' } },
      { event: 'done', data: done },
    ]);
    const stored = await t.db.selectFrom('idempotency_keys').select('response_body').where('key', '=', key).executeTakeFirstOrThrow();
    expect(stored.response_body).toEqual({ data: done });
    expect((await balanceOf(t, u.id)).total).toBe(4);
  });

  it('has stored the answer by the time the client sees the stream end', async () => {
    const u = await signUp(t);
    const key = randomUUID();
    for (let i = 0; i < 5; i++) {
      const k = `${key}-${i}`;
      await u.api.post('/ai/chat/stream', { message: 'Hi' }, { idempotencyKey: k });
      const row = await t.db.selectFrom('idempotency_keys').select('state').where('user_id', '=', u.id).where('key', '=', k).executeTakeFirstOrThrow();
      expect(row.state).toBe('completed');
    }
  });

  it('replays a deprecated-endpoint stream as a stream', async () => {
    const u = await signUp(t);
    const key = randomUUID();
    await u.api.post('/ai/chat/stream', { message: 'Hi' }, { idempotencyKey: key });
    const again = await u.api.post('/ai/chat/stream', { message: 'Hi' }, { idempotencyKey: key });
    expect(again.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(parseChatEvents(again.text).map((e) => e.event)).toEqual(['delta', 'done']);
  });
});
