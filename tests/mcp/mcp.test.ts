import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { assertMatchesContract } from '../helpers/contract.js';
import { diffSnapshots, snapshotDatabase } from '../helpers/db-snapshot.js';
import { createPersonalToken } from '../helpers/resources.js';
import { signUp, type TestUser } from '../helpers/users.js';

// POST /mcp driven by the MCP SDK's own client over its Streamable HTTP transport, against the real
// server. Every answer the client gets is checked against openapi.yaml on the way (checkedFetch).

let t: TestApp;
let user: TestUser;
beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
});
afterAll(async () => {
  await t?.close();
});

/** fetch that checks every answer of /api/v1/… against the contract, as TestClient does. */
const checkedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const res = await fetch(input, init);
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const text = await res.clone().text();
  const contentType = res.headers.get('content-type');
  const body = text && contentType?.includes('json') ? JSON.parse(text) : text || undefined;
  assertMatchesContract(init?.method ?? 'GET', url.pathname.replace(/^\/api\/v1/, ''), res.status, contentType, body);
  return res;
};

async function connect(token: string): Promise<Client> {
  const client = new Client({ name: 'perpetua-test-assistant', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${t.baseUrl}/api/v1/mcp`), { fetch: checkedFetch, requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return client;
}

const textOf = (result: any): string => result.content?.[0]?.text ?? '';

describe('the MCP server', () => {
  it('initializes, lists the tools the token may use, and creates a task visible through GET /tasks, logged as source ai', async () => {
    const { token } = await createPersonalToken(user, ['tasks:read', 'tasks:write']);
    const client = await connect(token);
    try {
      expect(client.getServerVersion()?.name).toBe('perpetua-flow');
      const { tools } = await client.listTools();
      expect(tools.map((x) => x.name).sort()).toEqual(['add_subtasks', 'complete_task', 'create_task', 'list_tasks', 'search_tasks', 'update_task']);
      const create = tools.find((x) => x.name === 'create_task')!;
      // The contract's CreateTaskRequest, references resolved.
      expect(create.inputSchema).toMatchObject({ type: 'object', required: ['title'], properties: { title: { maxLength: 200 }, priority: { enum: ['low', 'medium', 'high'] } } });

      const created = await client.callTool({ name: 'create_task', arguments: { title: 'Book the venue', priority: 'high' } });
      expect(created.isError, textOf(created)).toBeFalsy();
      const task = created.structuredContent as { id: string; title: string; version: number };
      expect(task).toMatchObject({ title: 'Book the venue', version: 1 });

      const listed = await user.api.get('/tasks');
      expect(listed.body.data.map((x: { id: string }) => x.id)).toContain(task.id);
      const activity = await user.api.get('/activity', { query: { entity_id: task.id } });
      expect(activity.body.data).toEqual([expect.objectContaining({ action: 'task_created', source: 'ai' })]);

      const subtasks = await client.callTool({ name: 'add_subtasks', arguments: { task_id: task.id, titles: ['Call them', 'Pay the deposit'] } });
      expect(subtasks.isError, textOf(subtasks)).toBeFalsy();
      const updated = await client.callTool({ name: 'update_task', arguments: { task_id: task.id, changes: { title: 'Book the big venue', version: 1 } } });
      expect(updated.structuredContent).toMatchObject({ title: 'Book the big venue', version: 2 });
      const completed = await client.callTool({ name: 'complete_task', arguments: { task_id: task.id } });
      expect(completed.structuredContent).toMatchObject({ completed: true });
      expect((await user.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ title: 'Book the big venue', completed: true, subtasks: [{ title: 'Call them' }, { title: 'Pay the deposit' }] });

      const list = await client.callTool({ name: 'list_tasks', arguments: { completed: true } });
      expect((list.structuredContent as any).data.map((x: { id: string }) => x.id)).toEqual([task.id]);
      const found = await client.callTool({ name: 'search_tasks', arguments: { q: 'venue' } });
      expect((found.structuredContent as any).data.map((x: { id: string }) => x.id)).toContain(task.id);
    } finally {
      await client.close();
    }
  });

  it("refuses a call beyond the token's scopes, and changes nothing", async () => {
    const { token } = await createPersonalToken(user, ['tasks:read']);
    const client = await connect(token);
    try {
      expect((await client.listTools()).tools.map((x) => x.name).sort()).toEqual(['list_tasks', 'search_tasks']);
      const before = await snapshotDatabase(t);
      for (const [name, args] of [
        ['create_task', { title: 'Not allowed' }],
        ['add_note', { content: 'Not allowed' }],
        ['list_todays_reminders', {}],
      ] as const) {
        const res = await client.callTool({ name, arguments: args });
        expect(res.isError, name).toBe(true);
        expect(textOf(res), name).toMatch(/^INSUFFICIENT_SCOPE: /);
      }
      expect(diffSnapshots(before, await snapshotDatabase(t))).toEqual({});
    } finally {
      await client.close();
    }
  });

  it('refuses arguments the contract schema refuses, and the domain rules as the REST operation does; nothing changes', async () => {
    const { token } = await createPersonalToken(user, ['tasks:read', 'tasks:write', 'notes:write', 'reminders:read']);
    const client = await connect(token);
    try {
      const other = await signUp(t);
      const theirs = (await other.api.post('/tasks', { title: 'Not yours' })).body.data;
      const before = await snapshotDatabase(t);
      const invalid = await client.callTool({ name: 'create_task', arguments: { title: '', priority: 'urgent', owner: 'someone' } });
      expect(invalid.isError).toBe(true);
      expect(textOf(invalid)).toMatch(/^VALIDATION_ERROR: /);
      const missing = await client.callTool({ name: 'complete_task', arguments: { task_id: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d' } });
      expect(textOf(missing)).toMatch(/^NOT_FOUND: /);
      const foreign = await client.callTool({ name: 'update_task', arguments: { task_id: theirs.id, changes: { completed: true } } });
      expect(foreign.isError).toBe(true);
      expect(textOf(foreign)).toMatch(/^(NOT_FOUND|FORBIDDEN): /);
      await expect(client.callTool({ name: 'drop_tables', arguments: {} })).rejects.toThrow(/Unknown tool/);
      expect(diffSnapshots(before, await snapshotDatabase(t))).toEqual({});
      expect((await other.api.get(`/tasks/${theirs.id}`)).body.data.completed).toBe(false);
    } finally {
      await client.close();
    }
  });

  it("adds a note and lists today's reminders", async () => {
    const { token } = await createPersonalToken(user, ['notes:write', 'reminders:read']);
    const client = await connect(token);
    try {
      const note = await client.callTool({ name: 'add_note', arguments: { content: 'Ideas for the offsite' } });
      expect(note.isError, textOf(note)).toBeFalsy();
      expect((await user.api.get('/notes')).body.data.map((n: { content: string }) => n.content)).toContain('Ideas for the offsite');
      const task = (await user.api.post('/tasks', { title: 'Standup' })).body.data;
      const soon = new Date(Date.now() + 60_000).toISOString();
      const reminder = await user.api.post('/reminders', { task_id: task.id, type: 'absolute', scheduled_at: soon });
      const reminders = await client.callTool({ name: 'list_todays_reminders', arguments: {} });
      expect(reminders.isError, textOf(reminders)).toBeFalsy();
      if (reminder.status === 201) expect((reminders.structuredContent as any).data.map((r: { id: string }) => r.id)).toContain(reminder.body.data.id);
    } finally {
      await client.close();
    }
  });

  it('counts every call against the user\'s rate limit, with the user\'s other requests', async () => {
    const limited = await startTestApp({ databaseUrl: t.databaseUrl, env: { RATE_LIMIT_GENERAL: '3' } });
    try {
      const u = await signUp(limited);
      const { token } = await createPersonalToken(u, ['tasks:read']); // 1
      const call = () => limited.api.as(token).post('/mcp', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { idempotencyKey: null });
      expect((await call()).status).toBe(200); // 2
      expect((await u.api.get('/tasks')).status).toBe(200); // 3
      const refused = await call();
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
    } finally {
      await limited.close();
    }
  });

  it('takes a personal access token only: an access token, no token or a deleted one gets 401', async () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    for (const auth of [user.token, null]) {
      const res = await t.api.post('/mcp', body, { token: auth, idempotencyKey: null });
      expect(res.status).toBe(401);
    }
    const gone = await createPersonalToken(user, ['tasks:read']);
    expect((await user.api.delete(`/tokens/${gone.id}`)).status).toBe(200);
    expect((await t.api.as(gone.token).post('/mcp', body, { idempotencyKey: null })).status).toBe(401);
    // GET and DELETE: no server-initiated stream, no session (405 from the contract router).
    const { token } = await createPersonalToken(user, ['tasks:read']);
    expect((await t.api.as(token).get('/mcp')).status).toBe(405);
  });
});
