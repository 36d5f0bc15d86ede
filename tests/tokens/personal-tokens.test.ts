import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import type { ApiResponse } from '../helpers/client.js';
import { diffSnapshots, snapshotDatabase } from '../helpers/db-snapshot.js';
import { signUp, type TestUser } from '../helpers/users.js';

// Personal access tokens (issue #19 item 3): POST/GET/DELETE /tokens, and a token as a Bearer
// credential limited to the scopes each operation names in the contract.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const key = () => ({ headers: { 'idempotency-key': randomUUID() } });

async function makeToken(user: TestUser, scopes: string[], extra: Record<string, unknown> = {}): Promise<{ id: string; token: string; res: ApiResponse }> {
  const res = await user.api.post('/tokens', { name: 'Script', scopes, ...extra }, key());
  expect(res.status, res.text).toBe(201);
  return { id: res.body.data.id, token: res.body.data.token, res };
}

async function expectUnchanged<T>(what: string, act: () => Promise<T>): Promise<T> {
  const before = await snapshotDatabase(t);
  const out = await act();
  expect(diffSnapshots(before, await snapshotDatabase(t)), `${what} changed the database`).toEqual({});
  return out;
}

function expectError(res: ApiResponse, status: number, code: string) {
  expect(res.status, res.text).toBe(status);
  expect(res.body.error.code).toBe(code);
}

describe('createPersonalToken', () => {
  it('answers the token once, with its secret; stores only its hash; the token works as a Bearer credential', async () => {
    const user = await signUp(t);
    const { id, token, res } = await makeToken(user, ['tasks:read', 'tasks:write'], { name: '  My assistant ', expires_at: '2099-01-01T00:00:00+01:00' });
    expect(res.body.data).toEqual({
      id: expect.any(String),
      name: 'My assistant',
      scopes: ['tasks:read', 'tasks:write'],
      expires_at: '2098-12-31T23:00:00.000Z',
      created_at: expect.any(String),
      last_used_at: null,
      token: expect.stringMatching(/^pfpat_[A-Za-z0-9_-]{43}$/),
    });
    const row = await t.db.selectFrom('personal_access_tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(token.slice(6));

    const api = t.api.as(token);
    expect((await api.post('/tasks', { title: 'Made by a script' }, key())).status).toBe(201);
    const listed = await api.get('/tasks');
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((x: any) => x.title)).toEqual(['Made by a script']);
    // The user's own session sees the task; the activity log names the user.
    expect((await user.api.get('/tasks')).body.data).toHaveLength(1);

    const list = await user.api.get('/tokens');
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ id, name: 'My assistant', last_used_at: expect.any(String) });
    expect(list.body.data[0].token).toBeUndefined();
    expect(list.text).not.toContain(token);
  });

  it('replays an idempotent retry with the same token and no secret', async () => {
    const user = await signUp(t);
    const opts = key();
    const first = await user.api.post('/tokens', { name: 'Once', scopes: ['notes:read'] }, opts);
    const again = await user.api.post('/tokens', { name: 'Once', scopes: ['notes:read'] }, opts);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body.data).toEqual({ ...first.body.data, token: null });
    expect((await user.api.get('/tokens')).body.data).toHaveLength(1);
  });

  it('lasts until deleted without expires_at, and lists newest first', async () => {
    const user = await signUp(t);
    const a = await makeToken(user, ['tasks:read']);
    const b = await makeToken(user, ['notes:read'], { expires_at: null });
    expect(a.res.body.data.expires_at).toBeNull();
    expect(b.res.body.data.expires_at).toBeNull();
    expect((await user.api.get('/tokens')).body.data.map((x: any) => x.id)).toEqual([b.id, a.id]);
  });

  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['a blank name', { name: '   ', scopes: ['tasks:read'] }, 'body.name'],
    ['an expires_at in the past', { name: 'Old', scopes: ['tasks:read'], expires_at: '2020-01-01T00:00:00Z' }, 'body.expires_at'],
    ['an unknown scope', { name: 'Admin', scopes: ['tokens:write'] }, 'body.scopes.0'],
    ['no scope', { name: 'Nothing', scopes: [] }, 'body.scopes'],
    ['a scope twice', { name: 'Twice', scopes: ['tasks:read', 'tasks:read'] }, 'body.scopes'],
    ['a name over 100 characters', { name: 'x'.repeat(101), scopes: ['tasks:read'] }, 'body.name'],
  ];
  for (const [what, body, field] of invalid) {
    it(`refuses ${what} with a 400 naming ${field}, and makes nothing`, async () => {
      const user = await signUp(t);
      const res = await expectUnchanged(what, () => user.api.post('/tokens', body, key()));
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    });
  }

  it('refuses a 51st token with 409 LIMIT_EXCEEDED', async () => {
    const user = await signUp(t);
    await t.db
      .insertInto('personal_access_tokens')
      .values(Array.from({ length: 50 }, (_, i) => ({ user_id: user.id, name: `t${i}`, scopes: ['tasks:read'], token_hash: randomUUID() })))
      .execute();
    const res = await expectUnchanged('the 51st token', () => user.api.post('/tokens', { name: 'One more', scopes: ['tasks:read'] }, key()));
    expectError(res, 409, 'LIMIT_EXCEEDED');
    expect(res.body.error.limit).toBe(50);
  });

  it('counts the limit under a lock: concurrent creates never pass 50', async () => {
    const user = await signUp(t);
    await t.db
      .insertInto('personal_access_tokens')
      .values(Array.from({ length: 47 }, (_, i) => ({ user_id: user.id, name: `t${i}`, scopes: ['tasks:read'], token_hash: randomUUID() })))
      .execute();
    const answers = await Promise.all(Array.from({ length: 6 }, () => user.api.post('/tokens', { name: 'Race', scopes: ['tasks:read'] }, key())));
    expect(answers.map((r) => r.status).sort()).toEqual([201, 201, 201, 409, 409, 409]);
    expect((await user.api.get('/tokens')).body.data).toHaveLength(50);
  });

  it('needs an Idempotency-Key', async () => {
    const user = await signUp(t);
    const res = await expectUnchanged('no key', () => user.api.post('/tokens', { name: 'No key', scopes: ['tasks:read'] }, { idempotencyKey: null }));
    expectError(res, 400, 'IDEMPOTENCY_KEY_REQUIRED');
  });
});

describe('deletePersonalToken', () => {
  it('revokes the token at once; a second delete is a 404', async () => {
    const user = await signUp(t);
    const { id, token } = await makeToken(user, ['tasks:read']);
    expect((await t.api.as(token).get('/tasks')).status).toBe(200);
    const res = await user.api.delete(`/tokens/${id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { id, deleted: true } });
    const after = await t.api.as(token).get('/tasks');
    expectError(after, 401, 'UNAUTHORIZED');
    expect(after.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expectError(await user.api.delete(`/tokens/${id}`), 404, 'NOT_FOUND');
    expect((await user.api.get('/tokens')).body.data).toEqual([]);
  });

  it("answers 403 FORBIDDEN for another user's token (SPEC FR-005) and changes nothing; that token keeps working", async () => {
    const [owner, intruder] = await Promise.all([signUp(t), signUp(t)]);
    const { id, token } = await makeToken(owner, ['tasks:read']);
    expect((await t.api.as(token).get('/tasks')).status).toBe(200);
    const res = await expectUnchanged("deleting another user's token", () => intruder.api.delete(`/tokens/${id}`));
    expectError(res, 403, 'FORBIDDEN');
    expect((await intruder.api.get('/tokens')).body.data).toEqual([]);
    expect((await t.api.as(token).get('/tasks')).status).toBe(200);
  });

  it('answers 404 for an unknown id', async () => {
    const user = await signUp(t);
    expectError(await user.api.delete(`/tokens/${randomUUID()}`), 404, 'NOT_FOUND');
  });
});

describe('a personal access token as a credential', () => {
  let user: TestUser;
  let readTasks: string;
  beforeAll(async () => {
    user = await signUp(t);
    readTasks = (await makeToken(user, ['tasks:read'])).token;
  });

  it('is refused without a scope the operation needs: 403 INSUFFICIENT_SCOPE naming the scopes, nothing changes', async () => {
    const notesOnly = (await makeToken(user, ['notes:read', 'notes:write'])).token;
    const cases: Array<[string, string, () => Promise<ApiResponse>, string[]]> = [
      ['a read', 'listTasks', () => t.api.as(notesOnly).get('/tasks'), ['tasks:read']],
      ['a write', 'createTask', () => t.api.as(readTasks).post('/tasks', { title: 'Not allowed' }, key()), ['tasks:write']],
      ['a delete', 'deleteNote', () => t.api.as(readTasks).delete(`/notes/${randomUUID()}`), ['notes:write']],
      ['an AI call', 'chatWithAssistant', () => t.api.as(readTasks).post('/ai/chat', { message: 'Plan my day' }, key()), ['ai:use']],
      ['one of two scopes', 'search', () => t.api.as(readTasks).get('/search', { query: { q: 'report' } }), ['tasks:read', 'notes:read']],
    ];
    for (const [kind, op, send, required] of cases) {
      const res = await expectUnchanged(`${kind} (${op})`, send);
      expectError(res, 403, 'INSUFFICIENT_SCOPE');
      expect(res.body.error.required_scopes, op).toEqual(required);
    }
    expect((await user.api.get('/tasks')).body.data).toEqual([]);
  });

  it('can never manage tokens, the account or billing: 403 TOKEN_NOT_ALLOWED, nothing changes', async () => {
    const all = (await makeToken(user, ['profile:read', 'tasks:read', 'tasks:write', 'notes:read', 'notes:write', 'reminders:read', 'reminders:write', 'ai:use'])).token;
    const api = t.api.as(all);
    const { id } = await makeToken(user, ['tasks:read']);
    const cases: Array<[string, () => Promise<ApiResponse>]> = [
      ['createPersonalToken', () => api.post('/tokens', { name: 'Escalate', scopes: ['tasks:read'] }, key())],
      ['listPersonalTokens', () => api.get('/tokens')],
      ['deletePersonalToken', () => api.delete(`/tokens/${id}`)],
      ['updateCurrentUser', () => api.patch('/users/me', { name: 'Mallory' }, key())],
      ['deleteCurrentUser', () => api.delete('/users/me', { body: { confirm: user.email } })],
      ['exportCurrentUser', () => api.get('/users/me/export')],
      ['createCheckoutSession', () => api.post('/subscription/checkout', {}, key())],
      ['purchaseCredits', () => api.post('/subscription/purchase-credits', { package: 'small' }, key())],
      ['createCalendarFeed', () => api.post('/calendar/feed', undefined, key())],
    ];
    // Authentication, and with it the token check, comes before the body is read.
    for (const [op, send] of cases) {
      const res = await expectUnchanged(op, send);
      expect(res.status, `${op}: ${res.text}`).toBe(403);
      expect(res.body.error.code, op).toBe('TOKEN_NOT_ALLOWED');
    }
    expect((await api.get('/users/me')).status).toBe(200);
  });

  it('acts for its user only: another user cannot reach its data, and it reaches no one else', async () => {
    const other = await signUp(t);
    const task = await other.api.post('/tasks', { title: "Other's" }, key());
    const res = await t.api.as(readTasks).get(`/tasks/${task.body.data.id}`);
    expect([403, 404]).toContain(res.status);
    expect(res.body.error.code).not.toBe('INSUFFICIENT_SCOPE');
  });

  it('is refused once expired: 401, nothing changes', async () => {
    const { id, token } = await makeToken(user, ['tasks:read']);
    expect((await t.api.as(token).get('/tasks')).status).toBe(200);
    await t.db.updateTable('personal_access_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    // The row is remembered up to 30 s, the expiry with it: a fresh process sees the new expiry.
    const fresh = await startTestApp({ databaseUrl: t.databaseUrl });
    try {
      const res = await expectUnchanged('an expired token', () => fresh.api.as(token).get('/tasks'));
      expectError(res, 401, 'UNAUTHORIZED');
      expect(res.body.error.message).toMatch(/expired/);
    } finally {
      await fresh.close();
    }
  });

  it('expires at its expires_at on a process that remembers it', async () => {
    const { token } = await makeToken(user, ['tasks:read'], { expires_at: new Date(Date.now() + 1500).toISOString() });
    expect((await t.api.as(token).get('/tasks')).status).toBe(200);
    await expect.poll(async () => (await t.api.as(token).get('/tasks')).status, { timeout: 4000, interval: 100 }).toBe(401);
  });

  it('is refused when unknown or malformed: 401', async () => {
    expectError(await t.api.as(`pfpat_${'A'.repeat(43)}`).get('/tasks'), 401, 'UNAUTHORIZED');
    expectError(await t.api.as('pfpat_').get('/tasks'), 401, 'UNAUTHORIZED');
    expectError(await t.api.as(`pfpat_${'A'.repeat(200)}`).get('/tasks'), 401, 'UNAUTHORIZED');
  });

  it('stops when its account is deleted', async () => {
    const gone = await signUp(t);
    const { token } = await makeToken(gone, ['tasks:read']);
    expect((await t.api.as(token).get('/tasks')).status).toBe(200);
    expect((await gone.api.delete('/users/me', { body: { confirm: gone.email } })).status).toBe(200);
    expectError(await t.api.as(token).get('/tasks'), 401, 'UNAUTHORIZED');
  });

  it('notes last_used_at at most once a minute, and not on a refused request', async () => {
    const { id, token } = await makeToken(user, ['tasks:read']);
    expectError(await t.api.as(token).post('/tasks', { title: 'x' }, key()), 403, 'INSUFFICIENT_SCOPE');
    const row = () => t.db.selectFrom('personal_access_tokens').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow();
    expect((await row()).last_used_at).toBeNull();
    await t.api.as(token).get('/tasks');
    const first = (await row()).last_used_at;
    expect(first).toBeInstanceOf(Date);
    await t.api.as(token).get('/tasks');
    expect((await row()).last_used_at).toEqual(first);
  });
});

describe('revocation across processes', () => {
  it('a token deleted on one process stops at once on another that had it in memory', async () => {
    const other = await startTestApp({ databaseUrl: t.databaseUrl });
    try {
      const user = await signUp(t);
      const { id, token } = await makeToken(user, ['tasks:read']);
      for (const api of [t.api.as(token), other.api.as(token)]) expect((await api.get('/tasks')).status).toBe(200);
      expect((await user.api.delete(`/tokens/${id}`)).status).toBe(200);
      expectError(await t.api.as(token).get('/tasks'), 401, 'UNAUTHORIZED');
      await expect.poll(async () => (await other.api.as(token).get('/tasks')).status, { timeout: 2000, interval: 20 }).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('a token deleted by hand in the database stops on every process', async () => {
    const user = await signUp(t);
    const { id, token } = await makeToken(user, ['tasks:read']);
    expect((await t.api.as(token).get('/tasks')).status).toBe(200);
    await t.db.deleteFrom('personal_access_tokens').where('id', '=', id).execute();
    await expect.poll(async () => (await t.api.as(token).get('/tasks')).status, { timeout: 2000, interval: 20 }).toBe(401);
  });
});

describe('rate limits', () => {
  it('count requests made with a token per user, together with the session', async () => {
    const limited = await startTestApp({ databaseUrl: t.databaseUrl, env: { RATE_LIMIT_GENERAL: '4' } });
    try {
      const user = await signUp(limited);
      const { token } = await makeToken(user, ['tasks:read']); // 1
      expect((await user.api.get('/tasks')).status).toBe(200); // 2
      expect((await limited.api.as(token).get('/tasks')).status).toBe(200); // 3
      expect((await limited.api.as(token).get('/tasks')).status).toBe(200); // 4
      expectError(await limited.api.as(token).get('/tasks'), 429, 'RATE_LIMIT_EXCEEDED');
      expectError(await user.api.get('/tasks'), 429, 'RATE_LIMIT_EXCEEDED');
    } finally {
      await limited.close();
    }
  });
});
