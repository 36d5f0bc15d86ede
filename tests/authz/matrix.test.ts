import { createECDH, randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { contractSchema, validationSummary } from '../../src/domain/ai/contract-schemas.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import type { ApiResponse } from '../helpers/client.js';
import { assertMatchesContract } from '../helpers/contract.js';
import { drainCredits } from '../helpers/credits.js';
import { diffSnapshots, snapshotDatabase } from '../helpers/db-snapshot.js';
import { contract, documentedCodes, operations, type Operation } from '../helpers/operations.js';
import {
  createFocusSession,
  createNote,
  createNotifications,
  createReminder,
  createSubtask,
  createTask,
  createTemplate,
  createTombstone,
  isOwnedIdKind,
  ownUser,
  type OwnedIdKind,
  type OwnedResource,
} from '../helpers/resources.js';
import { signUp, type TestUser } from '../helpers/users.js';

// The authorization matrix, generated from openapi.yaml so that a new operation is covered without
// touching this file:
//   (a) without a valid token every bearerAuth operation answers 401 with the error envelope;
//   (b) another user's id — in the path, the query or the body — gets the documented 403 (or 404),
//       and nothing changes, neither the owner's view of it nor any row of the database;
//   (c) every Pro feature (a documented 403 TIER_REQUIRED) refuses a free user and changes nothing.
// Requests are valid (contract examples, real ids) so that the answer is about authorization and
// not a 400.

const isOwnedKind = isOwnedIdKind;

/** Keys of owned ids anywhere in a body (`task_id` in `action_data`, …). */
function idKeysIn(value: unknown, found = new Set<OwnedIdKind>()): Set<OwnedIdKind> {
  if (Array.isArray(value)) value.forEach((v) => idKeysIn(v, found));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (isOwnedKind(k) && typeof v === 'string') found.add(k);
      else idKeysIn(v, found);
    }
  }
  return found;
}

function withIds(value: unknown, ids: Partial<Record<OwnedIdKind, string>>): unknown {
  if (Array.isArray(value)) return value.map((v) => withIds(v, ids));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isOwnedKind(k) && typeof v === 'string' && ids[k] ? ids[k] : withIds(v, ids)]));
  }
  return value;
}

/** The request for `op`: path ids from `ids` (else a random uuid), required query parameters from their examples. */
function requestFor(op: Operation, ids: Partial<Record<string, string>> = {}) {
  const path = op.info.path.replace(/\{(\w+)\}/g, (_m, name: string) => ids[name] ?? randomUUID());
  const query: Record<string, string> = {};
  for (const p of op.queryParams) {
    if (ids[p.name]) query[p.name] = ids[p.name]!;
    else if (p.required) {
      expect(p.example, `${op.id}: the required query parameter ${p.name} needs an example`).toBeDefined();
      query[p.name] = String(p.example);
    }
  }
  return { path, query };
}

function send(t: TestApp, op: Operation, opts: { token: string | null; path: string; query: Record<string, string>; body?: unknown; headers?: Record<string, string> }): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (op.info.hasBody) headers['content-type'] = 'application/json';
  if (op.info.idempotent) headers['idempotency-key'] = randomUUID();
  return t.api.request(op.info.method, opts.path, { token: opts.token, query: opts.query, body: opts.body, headers });
}

function expectEnvelope(res: ApiResponse, status: number, code: string, what: string) {
  expect(res.status, `${what}: ${res.text.slice(0, 400)}`).toBe(status);
  expect(res.body?.error, what).toMatchObject({ code, message: expect.any(String), request_id: res.headers.get('x-request-id') });
}

async function expectDatabaseUnchanged(t: TestApp, before: Awaited<ReturnType<typeof snapshotDatabase>>, what: string) {
  expect(diffSnapshots(before, await snapshotDatabase(t)), `${what} changed the database`).toEqual({});
}

/** A WebSocket upgrade: the refusal (status and JSON body), or the open socket with its messages. */
function connectWebSocket(t: TestApp, path: string, query: Record<string, string>) {
  const url = new URL(`/api/v1${path}`, t.baseUrl.replace('http', 'ws'));
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const ws = new WebSocket(url);
  const messages: any[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  ws.on('error', () => {});
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  return new Promise<{ refused?: { status: number; contentType: string | null; body: any; headers: Record<string, unknown> }; ws: WebSocket; messages: any[]; closed: Promise<number> }>((resolveConn) => {
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolveConn({ refused: { status: res.statusCode!, contentType: res.headers['content-type'] ?? null, body: text ? JSON.parse(text) : undefined, headers: res.headers }, ws, messages, closed }));
    });
    ws.on('open', () => resolveConn({ ws, messages, closed }));
  });
}

let t: TestApp;
let ai: FakeOpenAI;
let dg: FakeDeepgram;
let owner: TestUser; // A
let intruder: TestUser; // B
const covered = { a: new Set<string>(), b: new Set<string>(), c: new Set<string>() };

const bearerOps = operations.filter((op) => op.info.authenticated);
const websocketOps = operations.filter((op) => op.websocket);
const pathIdOps = operations.filter((op) => op.pathParams.length > 0);
const coveredPathIdOps = pathIdOps.filter((op) => op.info.authenticated && op.pathParams.every(isOwnedKind));
/** Operations that take an owned id in the query or the body (and none in the path). */
const otherIdOps = bearerOps.filter((op) => op.pathParams.length === 0 && (op.queryParams.some((p) => isOwnedKind(p.name)) || op.examples.some((e) => idKeysIn(e.value).size > 0)));
const tierOps = operations.filter((op) => documentedCodes(op, '403').includes('TIER_REQUIRED'));
/** Examples of a Pro-gated operation that use no Pro feature (a text note is free). */
const FREE_EXAMPLES: Record<string, string[]> = { createNote: ['text'] };

/** A's notifications, made up front while the worker runs (each reminder fires at once). */
const notificationPool: OwnedResource[] = [];

beforeAll(async () => {
  [ai, dg] = await Promise.all([startFakeOpenAI(), startFakeDeepgram()]);
  t = await startTestApp({ env: { OPENAI_API_KEY: ai.apiKey, OPENAI_BASE_URL: ai.baseUrl, DEEPGRAM_API_KEY: dg.apiKey, DEEPGRAM_URL: dg.baseUrl, PUSH_ALLOW_LOOPBACK: 'true' } });
  ai.answer({ content: 'An answer B should never get.', json: { subtasks: [{ title: 'A step' }] } });
  [owner, intruder] = await Promise.all([signUp(t, { name: 'Ada' }), signUp(t, { name: 'Bob' })]);
  const needed = coveredPathIdOps.filter((op) => op.pathParams.includes('notification_id')).length;
  if (needed) {
    // The worker runs only here, so that nothing moves in the database while the matrix compares it.
    const worker = await t.startWorker();
    try {
      notificationPool.push(...(await createNotifications(owner, needed)));
    } finally {
      await worker.stop();
    }
  }
});
afterAll(async () => {
  await t?.close();
  await Promise.all([ai?.close(), dg?.close()]);
});

describe('(a) without a valid token every protected operation answers 401', () => {
  let before: Awaited<ReturnType<typeof snapshotDatabase>>;
  let expiredToken: string;
  beforeAll(async () => {
    before = await snapshotDatabase(t);
    const claims = jwt.decode(owner.token) as jwt.JwtPayload;
    const now = Math.floor(Date.now() / 1000);
    expiredToken = jwt.sign({ ...claims, iat: now - 1000, exp: now - 100 }, t.deps.tokens.keys.privateKey, { algorithm: 'RS256', keyid: t.deps.tokens.keys.kid });
  });

  const variants = [
    { what: 'no Authorization header', header: (): string | undefined => undefined, code: 'UNAUTHORIZED' },
    { what: 'a token that is not a JWT', header: () => 'Bearer not-a-jwt', code: 'UNAUTHORIZED' },
    { what: 'an expired token', header: () => `Bearer ${expiredToken}`, code: 'TOKEN_EXPIRED' },
  ];

  for (const op of bearerOps) {
    it(`${op.id} (${op.info.method} ${op.info.path})`, async () => {
      if (op.info.hasBody && op.def.requestBody?.required) expect(op.examples.length, `${op.id} has no request example`).toBeGreaterThan(0);
      const { path, query } = requestFor(op);
      for (const v of variants) {
        const auth = v.header();
        const res = await send(t, op, { token: null, path, query, body: op.examples[0]?.value, headers: auth ? { authorization: auth } : {} });
        expectEnvelope(res, 401, v.code, `${op.id} with ${v.what}`);
        expect(res.headers.get('www-authenticate'), `${op.id} with ${v.what}`).toMatch(/^Bearer/);
        if (v.code === 'TOKEN_EXPIRED') expect(res.body.error.refresh_required).toBe(true);
      }
      covered.a.add(op.id);
    });
  }

  for (const op of websocketOps) {
    it(`${op.id} (WebSocket; the token comes in ?token=)`, async () => {
      for (const [token, code] of [['not-a-jwt', 'UNAUTHORIZED'], [expiredToken, 'TOKEN_EXPIRED']] as const) {
        const conn = await connectWebSocket(t, op.info.path, { token });
        expect(conn.refused, `${op.id} upgraded with ${code}`).toBeDefined();
        const { status, contentType, body } = conn.refused!;
        assertMatchesContract('GET', op.info.path, status, contentType, body);
        expect(status).toBe(401);
        expect(body.error.code).toBe(code);
      }
      covered.a.add(op.id);
    });
  }

  it('changed nothing in the database', async () => {
    await expectDatabaseUnchanged(t, before, 'the unauthenticated requests');
  });
});

describe('(b) another user’s ids get the documented 403 (or 404) and change nothing', () => {
  const factories: Record<OwnedIdKind, (op: Operation) => Promise<OwnedResource>> = {
    task_id: () => createTask(owner),
    subtask_id: () => createSubtask(owner),
    reminder_id: () => createReminder(owner),
    note_id: () => createNote(owner),
    template_id: () => createTemplate(owner),
    tombstone_id: (op) => createTombstone(owner, op.info.path.startsWith('/notes/') ? 'note' : 'task'),
    focus_session_id: () => createFocusSession(owner),
    user_id: async () => ownUser(owner),
    notification_id: async () => {
      const n = notificationPool.shift();
      if (!n) throw new Error('the notification pool is empty');
      return n;
    },
  };

  /** 403 FORBIDDEN when the operation documents it, else 404 NOT_FOUND (the resource is not revealed). */
  function foreignAnswer(op: Operation): { status: number; code: string } {
    if (documentedCodes(op, '403').includes('FORBIDDEN')) return { status: 403, code: 'FORBIDDEN' };
    expect(op.def.responses?.['404'], `${op.id} documents neither 403 FORBIDDEN nor 404 for another user's id`).toBeDefined();
    return { status: 404, code: 'NOT_FOUND' };
  }

  async function tryAsIntruder(op: Operation, kinds: OwnedIdKind[], bodies: unknown[]) {
    const resources = new Map<OwnedIdKind, OwnedResource>();
    for (const kind of kinds) resources.set(kind, await factories[kind](op));
    const ids = Object.fromEntries([...resources].map(([kind, r]) => [kind, r.id]));
    const expected = foreignAnswer(op);
    for (const body of bodies) {
      const what = `${op.id} by another user with ${JSON.stringify(body ?? null)}`;
      const views = await Promise.all([...resources.values()].map((r) => r.view()));
      const before = await snapshotDatabase(t);
      const providerCalls = [ai.requests.length, dg.prerecordedRequests.length];
      const { path, query } = requestFor(op, ids);
      const res = await send(t, op, { token: intruder.token, path, query, body: withIds(body, ids) });
      expectEnvelope(res, expected.status, expected.code, what);
      expect(res.text, `${what}: the refusal names the owner`).not.toContain(owner.id);
      await expectDatabaseUnchanged(t, before, what);
      // Nothing of A's reached a provider on B's behalf (an AI prompt would carry A's task).
      expect([ai.requests.length, dg.prerecordedRequests.length], `${what} called a provider`).toEqual(providerCalls);
      expect(await Promise.all([...resources.values()].map((r) => r.view())), `${what}: the owner's view`).toEqual(views);
    }
  }

  for (const op of coveredPathIdOps) {
    it(`${op.id} (${op.info.method} ${op.info.path})`, async () => {
      const bodies = op.examples.length ? op.examples.map((e) => e.value) : [undefined];
      await tryAsIntruder(op, op.pathParams as OwnedIdKind[], bodies);
      covered.b.add(op.id);
    });
  }

  for (const op of otherIdOps) {
    it(`${op.id} (${op.info.method} ${op.info.path}, the id in the ${op.queryParams.some((p) => isOwnedKind(p.name)) ? 'query' : 'body'})`, async () => {
      const queryKinds = op.queryParams.map((p) => p.name).filter(isOwnedKind);
      const withId = op.examples.filter((e) => idKeysIn(e.value).size > 0);
      const bodies = queryKinds.length ? (op.examples.length ? op.examples.map((e) => e.value) : [undefined]) : withId.map((e) => e.value);
      const kinds = new Set<OwnedIdKind>(queryKinds);
      for (const b of bodies) for (const k of idKeysIn(b)) kinds.add(k);
      await tryAsIntruder(op, [...kinds], bodies);
      covered.b.add(op.id);
    });
  }
});

describe('(b) ids the matrix cannot derive from a path parameter', () => {
  /** What a browser's PushSubscription.toJSON() gives: an uncompressed P-256 key and a 16-byte secret. */
  const browserSubscription = () => ({
    // On loopback (PUSH_ALLOW_LOOPBACK): the server checks that the endpoint's host resolves.
    endpoint: `https://127.0.0.1:9/push/${randomUUID()}`,
    p256dh_key: createECDH('prime256v1').generateKeys().toString('base64url'),
    auth_key: randomBytes(16).toString('base64url'),
  });
  const op = (id: string) => operations.find((o) => o.id === id)!;

  it('push subscriptions are known by their endpoint: another user can neither remove one (404, not revealed) nor take it over (409)', async () => {
    const subscription = browserSubscription();
    expect((await owner.api.post('/notifications/push-subscription', subscription)).status).toBe(201);
    const before = await snapshotDatabase(t);
    const removal = await intruder.api.delete('/notifications/push-subscription', { query: { endpoint: subscription.endpoint } });
    expect(documentedCodes(op('removePushSubscription'), '403')).toEqual([]);
    expectEnvelope(removal, 404, 'NOT_FOUND', 'removePushSubscription of another user\'s endpoint');
    const takeover = await intruder.api.post('/notifications/push-subscription', { ...browserSubscription(), endpoint: subscription.endpoint });
    expectEnvelope(takeover, 409, 'CONFLICT', 'registerPushSubscription of another user\'s endpoint');
    await expectDatabaseUnchanged(t, before, 'another user\'s push subscription requests');
    covered.b.add('removePushSubscription').add('registerPushSubscription');
  });

  it('deleteCurrentUser only ever deletes the caller: another user confirming with the owner\'s email gets 400 and nothing changes', async () => {
    const before = await snapshotDatabase(t);
    const res = await intruder.api.delete('/users/me', { body: { confirm: owner.email } });
    expectEnvelope(res, 400, 'CONFIRMATION_MISMATCH', 'deleteCurrentUser by another user with the owner\'s email');
    expect(res.text).not.toContain(owner.id);
    await expectDatabaseUnchanged(t, before, 'deleteCurrentUser by another user');
    expect((await owner.api.get('/users/me')).status).toBe(200);
    // The export is always the caller's own (tests/users/export.test.ts checks it holds nothing of others).
    const exported = await intruder.api.get('/users/me/export');
    expect(exported.status).toBe(200);
    expect(exported.text).not.toContain(owner.id);
    covered.b.add('deleteCurrentUser').add('exportCurrentUser');
  });

  it('calendar feeds are the caller\'s own and found only by their secret: B neither reads, rotates nor revokes A\'s', async () => {
    const task = await createTask(owner);
    const ownerUrl = (await owner.api.post('/calendar/feed')).body.data.url as string;
    const ownerPath = new URL(ownerUrl).pathname;
    const first = await t.api.get(ownerPath, { token: null });
    expect(first.status).toBe(200);
    expect(first.text).toContain(task.id);

    // B's revoke finds no feed of B's (404, A's untouched); a made-up secret is a 404 like a revoked one.
    const before = await snapshotDatabase(t);
    expectEnvelope(await intruder.api.delete('/calendar/feed'), 404, 'NOT_FOUND', 'revokeCalendarFeed by a user without a feed');
    expect((await intruder.api.get('/calendar/feed')).body.data).toMatchObject({ active: false, url: null });
    for (const guess of [`pfcal_${'A'.repeat(43)}`, randomUUID(), owner.id]) {
      expectEnvelope(await t.api.get(`/calendar/${guess}.ics`, { token: null }), 404, 'NOT_FOUND', `getCalendarFeedIcs with ${guess}`);
    }
    await expectDatabaseUnchanged(t, before, 'another user\'s calendar feed requests');

    // B's own feed shows nothing of A's, and making it leaves A's URL working.
    const intruderUrl = (await intruder.api.post('/calendar/feed')).body.data.url as string;
    const intruderFeed = await t.api.get(new URL(intruderUrl).pathname, { token: null });
    expect(intruderFeed.status).toBe(200);
    expect(intruderFeed.text).not.toContain(task.id);
    expect(intruderFeed.text).not.toContain(owner.id);
    expect((await t.api.get(ownerPath, { token: null })).text).toBe(first.text);
    covered.b.add('getCalendarFeedIcs').add('revokeCalendarFeed').add('createCalendarFeed').add('getCalendarFeed');
  });

  it('listActivity filtered by another user\'s entity id reveals nothing', async () => {
    const task = await createTask(owner);
    expect((await owner.api.get('/activity', { query: { entity_id: task.id } })).body.data.length).toBeGreaterThan(0);
    const res = await intruder.api.get('/activity', { query: { entity_id: task.id } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ data: [], pagination: { total: 0 } });
    covered.b.add('listActivity');
  });

  it('syncChanges refuses another user\'s cursor (400 naming query.cursor) and search finds nothing of theirs; nothing changes', async () => {
    const task = await createTask(owner);
    const ownerCursor = (await owner.api.get('/sync')).body.data.cursor as string;
    const before = await snapshotDatabase(t);
    const res = await intruder.api.get('/sync', { query: { cursor: ownerCursor } });
    expectEnvelope(res, 400, 'VALIDATION_ERROR', 'syncChanges with another user\'s cursor');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual(['query.cursor']);
    const own = await intruder.api.get('/sync');
    expect(own.status).toBe(200);
    expect(own.text).not.toContain(task.id);
    expect(own.text).not.toContain(owner.id);
    const found = await intruder.api.get('/search', { query: { q: 'quarterly report' } });
    expect(found.status).toBe(200);
    expect(found.text).not.toContain(task.id);
    await expectDatabaseUnchanged(t, before, 'another user\'s sync cursor and search');
    covered.b.add('syncChanges').add('search');
  });
});

describe('(b) offline commands name ids inside a batch', () => {
  it("applySyncCommands answers each command on another user's ids with its own 404 NOT_FOUND, reveals nothing and changes nothing of theirs", async () => {
    const task = await createTask(owner);
    const subtask = await createSubtask(owner);
    const note = await createNote(owner);
    const reminder = await createReminder(owner);
    const views = await Promise.all([task, subtask, note, reminder].map((r) => r.view()));
    const cmd = (type: string, id: string, args: unknown = {}) => ({ type, uuid: randomUUID(), id, args });
    const commands = [
      cmd('task_update', task.id, { title: 'Taken', version: 1 }),
      cmd('task_complete', task.id),
      cmd('task_uncomplete', task.id),
      cmd('task_delete', task.id),
      cmd('subtask_add', task.id, { title: 'Injected' }),
      cmd('subtask_update', subtask.id, { title: 'Taken' }),
      cmd('subtask_reorder', task.id, { subtask_ids: [subtask.id] }),
      cmd('subtask_delete', subtask.id),
      cmd('note_update', note.id, { content: 'Taken' }),
      cmd('note_delete', note.id),
      cmd('reminder_add', task.id, { type: 'absolute', scheduled_at: new Date(Date.now() + 86_400_000).toISOString() }),
      cmd('reminder_update', reminder.id, { method: 'push' }),
      cmd('reminder_delete', reminder.id),
    ];
    const before = await snapshotDatabase(t);
    const res = await intruder.api.post('/sync', { commands });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.results.map((r: { type: string; status: string; error?: { code: string } }) => [r.type, r.status, r.error?.code])).toEqual(
      commands.map((c) => [c.type, 'error', 'NOT_FOUND']),
    );
    expect(res.text).not.toContain(owner.id);
    // Only the intruder's own stored command results were written.
    expect(Object.keys(diffSnapshots(before, await snapshotDatabase(t)))).toEqual(['sync_commands']);
    expect(await Promise.all([task, subtask, note, reminder].map((r) => r.view()))).toEqual(views);
    covered.b.add('applySyncCommands');
  });
});

describe('(c) every Pro feature refuses a free user with 403 TIER_REQUIRED and changes nothing', () => {
  let free: TestUser;
  let pro: TestUser;
  beforeAll(async () => {
    free = await signUp(t);
    pro = await signUp(t, { tier: 'pro' });
    await drainCredits(t, pro.id);
  });

  const tierError = { code: 'TIER_REQUIRED', message: expect.any(String), required_tier: 'pro', current_tier: 'free' };

  for (const op of tierOps.filter((o) => !o.websocket)) {
    it(`${op.id} (${op.info.method} ${op.info.path})`, async () => {
      const proExamples = op.examples.filter((e) => !(FREE_EXAMPLES[op.id] ?? []).includes(e.name));
      expect(proExamples.length, `${op.id}: no example uses the Pro feature`).toBeGreaterThan(0);
      for (const example of proExamples) {
        const what = `${op.id} (${example.name}) by a free user`;
        const before = await snapshotDatabase(t);
        const providerCalls = [dg.prerecordedRequests.length, ai.requests.length];
        const res = await send(t, op, { token: free.token, ...requestFor(op), body: example.value });
        expectEnvelope(res, 403, 'TIER_REQUIRED', what);
        expect(res.body.error).toMatchObject(tierError);
        await expectDatabaseUnchanged(t, before, what);
        expect([dg.prerecordedRequests.length, ai.requests.length], `${what} called a provider`).toEqual(providerCalls);
        // The same request from Pro passes the tier check (whatever else it then answers).
        const asPro = await send(t, op, { token: pro.token, ...requestFor(op), body: example.value });
        expect(asPro.status, `${op.id} (${example.name}) by a Pro user: ${asPro.text}`).not.toBe(403);
      }
      covered.c.add(op.id);
    });
  }

  for (const op of tierOps.filter((o) => o.websocket)) {
    it(`${op.id} (WebSocket: ?token= and first-message authentication)`, async () => {
      const before = await snapshotDatabase(t);
      const sessions = dg.liveSessions.length;

      const byQuery = await connectWebSocket(t, op.info.path, { token: free.token });
      expect(byQuery.refused, 'a free user was upgraded').toBeDefined();
      assertMatchesContract('GET', op.info.path, byQuery.refused!.status, byQuery.refused!.contentType, byQuery.refused!.body);
      expect(byQuery.refused!.status).toBe(403);
      expect(byQuery.refused!.body.error).toMatchObject(tierError);

      const byMessage = await connectWebSocket(t, op.info.path, {});
      expect(byMessage.refused).toBeUndefined();
      byMessage.ws.send(JSON.stringify({ type: 'auth', token: free.token }));
      expect(await byMessage.closed).toBe(1008);
      const validate = contractSchema(contract, 'VoiceServerMessage');
      for (const m of byMessage.messages) expect(validate(m), validationSummary(validate)).toBe(true);
      expect(byMessage.messages).toEqual([expect.objectContaining({ type: 'error', code: 'TIER_REQUIRED' })]);

      expect(dg.liveSessions.length, 'a free user reached Deepgram').toBe(sessions);
      await expectDatabaseUnchanged(t, before, `${op.id} by a free user`);

      // Pro gets the upgrade (then, without credits, an error message; that is another test's concern).
      const asPro = await connectWebSocket(t, op.info.path, { token: pro.token });
      expect(asPro.refused, JSON.stringify(asPro.refused?.body)).toBeUndefined();
      asPro.ws.close();
      await asPro.closed;
      covered.c.add(op.id);
    });
  }
});

describe('coverage', () => {
  it('covers every protected operation, every operation with a path id, and every Pro feature', () => {
    console.log(
      `authorization matrix: (a) ${covered.a.size} operations answer 401 without a valid token (${bearerOps.length} bearerAuth + ${websocketOps.length} WebSocket); ` +
        `(b) ${covered.b.size} operations refuse another user's ids (${coveredPathIdOps.length} with a path id, ${otherIdOps.length} with an id in the query or body, the rest by endpoint, filter or feed secret); ` +
        `(c) ${covered.c.size} Pro features refuse a free user`,
    );
    expect(covered.a.size).toBeGreaterThan(0);
    expect(covered.b.size).toBeGreaterThan(0);
    expect(covered.c.size).toBeGreaterThan(0);
    expect([...bearerOps, ...websocketOps].map((op) => op.id).filter((id) => !covered.a.has(id)), 'protected operations not covered by (a)').toEqual([]);
    expect(pathIdOps.map((op) => op.id).filter((id) => !covered.b.has(id)), 'operations with a path id not covered by (b) (add a factory for the id)').toEqual([]);
    expect(tierOps.map((op) => op.id).filter((id) => !covered.c.has(id)), 'Pro features not covered by (c)').toEqual([]);
  });
});
