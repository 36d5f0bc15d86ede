import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { renderSqlFile, SqlRecorder, sqlSnapshot, type UseCaseSql } from '../helpers/sql-snapshot.js';
import { signUp, type TestUser } from '../helpers/users.js';

// The statements the hot use cases send, through the real HTTP server, committed as db/sql/<area>.sql
// so a query change shows up in review as a SQL diff (issue 17, item 7; docs/decisions/0002).
// Everything a request sends through Kysely is recorded: authentication, transactions, the use case.

let ai: FakeOpenAI;
let t: TestApp;
const recorder = new SqlRecorder();

beforeAll(async () => {
  ai = await startFakeOpenAI();
  t = await startTestApp({ env: { OPENAI_API_KEY: ai.apiKey, OPENAI_BASE_URL: ai.baseUrl }, onQuery: recorder.onQuery });
});
afterAll(async () => {
  await t?.close();
  await ai?.close();
});

/** Runs each use case (its setup unrecorded), then compares the area's file. */
async function expectAreaSql(area: string, cases: { title: string; setup?: () => Promise<void>; run: () => Promise<{ status: number; text?: string }>; status: number }[]) {
  const recorded: UseCaseSql[] = [];
  for (const c of cases) {
    await c.setup?.();
    let res: { status: number; text?: string } = { status: 0 };
    const statements = await recorder.record(async () => void (res = await c.run()));
    expect(res.status, `${c.title}: ${res.text}`).toBe(c.status);
    recorded.push({ title: c.title, statements });
  }
  const { expected, actual, hint } = sqlSnapshot(area, renderSqlFile(area, recorded));
  expect(actual, hint).toBe(expected);
}

describe('the SQL of the hot use cases (db/sql/*.sql)', () => {
  let u: TestUser;
  let taskId = '';
  beforeAll(async () => {
    u = await signUp(t);
  });

  it('tasks: create, list, a subtask, a reminder, complete, delete', async () => {
    await expectAreaSql('tasks', [
      {
        title: 'createTask: POST /tasks',
        run: async () => {
          const res = await u.api.post('/tasks', { title: 'Write the report', priority: 'high', due_date: new Date(Date.now() + 5 * 86_400_000).toISOString() });
          taskId = res.body.data?.id;
          return res;
        },
        status: 201,
      },
      { title: 'listTasks: GET /tasks (first page, defaults)', run: () => u.api.get('/tasks'), status: 200 },
      { title: 'createSubtask: POST /tasks/{task_id}/subtasks', run: () => u.api.post(`/tasks/${taskId}/subtasks`, { title: 'Find the figures' }), status: 201 },
      {
        title: 'createReminder: POST /tasks/{task_id}/reminders (30 minutes before the due date)',
        run: () => u.api.post(`/tasks/${taskId}/reminders`, { type: 'before', offset_minutes: -30, method: 'in_app' }),
        status: 201,
      },
      { title: 'updateTask: PATCH /tasks/{task_id} {completed: true}', run: () => u.api.patch(`/tasks/${taskId}`, { completed: true }), status: 200 },
      { title: 'deleteTask: DELETE /tasks/{task_id}', run: () => u.api.delete(`/tasks/${taskId}`), status: 200 },
    ]);
  });

  it('credits: balance, a paid AI answer (reserve), a provider failure (reserve, then refund)', async () => {
    await expectAreaSql('credits', [
      { title: 'getCreditBalance: GET /credits/balance', run: () => u.api.get('/credits/balance'), status: 200 },
      {
        title: 'chatWithAssistant: POST /ai/chat, answered (1 credit reserved before the provider is asked)',
        setup: async () => ai.answer({ content: 'Start with the figures.' }),
        run: () => u.api.post('/ai/chat', { message: 'Where do I start?' }),
        status: 200,
      },
      {
        title: 'chatWithAssistant: POST /ai/chat, the provider fails (the reserved credit is refunded)',
        setup: async () => ai.answer({ fail: 500 }),
        run: () => u.api.post('/ai/chat', { message: 'And then?' }),
        status: 503,
      },
    ]);
  });

  it('sync: first page, then from a cursor', async () => {
    let cursor = '';
    await expectAreaSql('sync', [
      {
        title: 'syncChanges: GET /sync (from the beginning)',
        run: async () => {
          const res = await u.api.get('/sync', { query: { limit: 2 } });
          cursor = res.body.cursor;
          return res;
        },
        status: 200,
      },
      { title: 'syncChanges: GET /sync?cursor=…', run: () => u.api.get('/sync', { query: { cursor, limit: 2 } }), status: 200 },
    ]);
  });

  it('search', async () => {
    await expectAreaSql('search', [{ title: 'search: GET /search?q=report', run: () => u.api.get('/search', { query: { q: 'report' } }), status: 200 }]);
  });
});
