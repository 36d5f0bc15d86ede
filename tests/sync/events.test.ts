import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { newTask } from '../tasks/fixtures.js';
import { EventStreamClient } from './event-stream.js';
import { Replica, serverState, settled } from './replica.js';

// GET /events and POST /events/ticket on real servers: `a` and `b` are two API instances on one
// database, each with its own listening connection, pool and streams, as two processes are.

let a: TestApp;
let b: TestApp;
const open: EventStreamClient[] = [];

beforeAll(async () => {
  a = await startTestApp({ env: { EVENTS_HEARTBEAT_MS: '150' } });
  b = await startTestApp({ databaseUrl: a.databaseUrl, env: { EVENTS_HEARTBEAT_MS: '150' } });
});
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

async function stream(app: TestApp, opts: Parameters<typeof EventStreamClient.open>[1]): Promise<EventStreamClient> {
  const s = await EventStreamClient.open(app.baseUrl, opts);
  open.push(s);
  return s;
}

/** Opens a stream of `user` on `app`, positioned after everything the user has so far (as a client that synced first). */
async function following(app: TestApp, user: TestUser): Promise<EventStreamClient> {
  const replica = new Replica(a, user);
  await replica.sync();
  const s = await stream(app, { token: user.token, cursor: replica.cursor });
  expect(s.status, JSON.stringify(s.body)).toBe(200);
  return s;
}

const ticketOf = async (user: TestUser, key?: string) => {
  const res = await user.api.post('/events/ticket', undefined, key ? { idempotencyKey: key } : {});
  expect(res.status, res.text).toBe(201);
  return res.body.data as { ticket: string | null; expires_at: string };
};
const streamRows = async (user: TestUser) => (await a.db.selectFrom('event_streams').select('id').where('user_id', '=', user.id).execute()).length;
/**
 * When every change of the user so far became final (no transaction older than it still running):
 * sync, and so a stream, hands a change out from then on. Polled every 10 ms.
 */
async function finalAt(app: TestApp, userId: string): Promise<number> {
  await settled(app, userId, 10);
  return Date.now();
}
const hasTask = (id: string) => (d: any) => d.tasks.some((x: any) => x.id === id);

describe('a change reaches every stream of its user, within a second, whoever made it', () => {
  it('arrives on a stream of another API instance than the one that made it', async () => {
    const user = await signUp(a);
    const s = await following(b, user);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(s.headers['cache-control']).toBe('no-store');
    expect(s.headers['x-accel-buffering']).toBe('no');
    await s.changes(hasTask((await newTask(user, { title: 'Warm-up' })).id)); // the first request of a process compiles its validators
    for (let i = 0; i < 3; i++) {
      const sent = Date.now();
      const task = await newTask(user, { title: `Live ${i}` });
      const [e, final] = await Promise.all([s.changes(hasTask(task.id), { ms: 5_000 }), finalAt(a, user.id)]);
      // From the later of the write's start (before its commit) and the moment no older transaction
      // held it back (another session's, anywhere on this shared server), to the event.
      expect(e.at - Math.max(sent, final), `sent +${final - sent} ms final, +${e.at - sent} ms delivered`).toBeLessThan(1_000);
      expect(e.id).toBe(e.data.cursor);
      expect(e.data.tasks.find((x: any) => x.id === task.id)).toMatchObject({ title: `Live ${i}`, version: 1 });
    }
  });

  it('arrives when the job worker made it (a reminder that fired becomes a notification)', async () => {
    const user = await signUp(a);
    const worker = await a.startWorker();
    try {
      const task = await newTask(user, { title: 'Stand-up', due_date: new Date(Date.now() - 60_000).toISOString() });
      const s = await following(b, user);
      // When the worker's notification exists and no older transaction holds it back.
      const final = (async () => {
        while (!(await a.db.selectFrom('notifications').select('id').where('user_id', '=', user.id).executeTakeFirst())) await new Promise((r) => setTimeout(r, 10));
        return finalAt(a, user.id);
      })();
      const reminder = await user.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: new Date(Date.now() - 60_000).toISOString() });
      expect(reminder.status, reminder.text).toBe(201);
      const e = await s.changes((d) => d.notifications.length > 0, { ms: 10_000 });
      expect(e.at - (await final)).toBeLessThan(1_000);
    } finally {
      await worker.stop();
    }
  });

  it('never carries another user’s changes', async () => {
    const user = await signUp(a);
    const other = await signUp(a);
    const s = await following(a, user);
    await newTask(other, { title: 'Not yours' });
    const mine = await newTask(user, { title: 'Yours' });
    await s.changes(hasTask(mine.id));
    await newTask(other, { title: 'Not yours either' });
    await settled(a, other.id);
    await new Promise((r) => setTimeout(r, 300));
    const titles = s.events.flatMap((e) => (e.event === 'changes' ? e.data.tasks.map((x: any) => x.title) : []));
    expect(titles).toEqual(['Yours']);
  });

  it('waits for an older transaction still running, then delivers (the commit-safe order of sync)', async () => {
    const user = await signUp(a);
    const s = await following(a, user);
    const client = new pg.Client({ connectionString: a.databaseUrl });
    await client.connect();
    try {
      // A transaction with an id, older than the change below and still open.
      await client.query('begin');
      await client.query('select pg_current_xact_id()');
      const task = await newTask(user, { title: 'Held back' });
      await new Promise((r) => setTimeout(r, 400));
      expect(s.events.some((e) => e.event === 'changes' && hasTask(task.id)(e.data))).toBe(false);
      const ended = Date.now();
      await client.query('commit');
      const e = await s.changes(hasTask(task.id));
      expect(e.at - ended).toBeLessThan(1_000);
    } finally {
      await client.end();
    }
  });

  it('still arrives on an instance whose listening connection is down (it reads every second)', async () => {
    const deaf = await startTestApp({ databaseUrl: a.databaseUrl });
    try {
      await deaf.deps.liveKeys.close(); // as behind a transaction pooler, where LISTEN hears nothing
      const user = await signUp(a);
      const s = await following(deaf, user);
      const task = await newTask(user, { title: 'Polled' });
      const sent = Date.now();
      const e = await s.changes(hasTask(task.id), { ms: 5_000 });
      expect(e.at - sent).toBeLessThan(2_500);
    } finally {
      await deaf.close();
    }
  });
});

describe('resuming with Last-Event-ID', () => {
  it('a stream cut mid-way and resumed from its last id leaves a local copy equal to the server, nothing lost or sent twice', async () => {
    const user = await signUp(a, { tier: 'pro' });
    for (let i = 0; i < 5; i++) await newTask(user, { title: `Before ${i}` });
    // From nothing: the snapshot, then the changes, as GET /sync without a cursor.
    const replica = new Replica(a, user);
    const seen = new Map<string, number[]>(); // task id → versions in the order received
    const apply = (events: { event: string; data: any }[], from = 0) => {
      for (const e of events.slice(from)) {
        if (e.event !== 'changes') continue;
        replica.apply(e.data);
        for (const x of e.data.tasks) seen.set(x.id, [...(seen.get(x.id) ?? []), x.version]);
      }
    };
    const first = await stream(a, { token: user.token });
    await first.until(() => first.events.some((e) => e.event === 'changes' && !e.data.has_more));
    const tasks = (await user.api.get('/tasks', { query: { limit: 100 } })).body.data as any[];
    for (const x of tasks.slice(0, 2)) expect((await user.api.patch(`/tasks/${x.id}`, { title: `${x.title} (edited)`, version: x.version })).status).toBe(200);
    await first.changes((d) => d.tasks.some((x: any) => x.title.endsWith('(edited)')));
    apply(first.events);
    const lastId = first.lastEventId!;
    first.close();
    await first.closed;

    // While nobody listens: new tasks, edits and a deletion.
    const fresh = [];
    for (let i = 0; i < 4; i++) fresh.push(await newTask(user, { title: `While away ${i}` }));
    expect((await user.api.patch(`/tasks/${fresh[0].id}`, { title: 'Renamed while away', version: 1 })).status).toBe(200);
    expect((await user.api.delete(`/tasks/${tasks[2].id}`)).status).toBe(200);
    await settled(a, user.id);

    const again = await stream(b, { token: user.token, lastEventId: lastId });
    expect(again.status).toBe(200);
    await again.changes((d) => d.deletions.some((x: any) => x.id === tasks[2].id));
    await again.until(() => again.events.at(-1)?.data.has_more === false);
    apply(again.events);
    expect(replica.plain()).toEqual(await serverState(user));
    // Nothing sent twice: what was handed out before the cut does not come again (the untouched
    // tasks), a task's states never go back, and what changed while away comes once, as it is now.
    const resent = again.events.flatMap((e) => (e.event === 'changes' ? e.data.tasks.map((x: any) => x.id) : []));
    for (const untouched of tasks.slice(3)) expect(resent).not.toContain(untouched.id);
    for (const [id, versions] of seen) expect(versions, id).toEqual([...versions].sort((x, y) => x - y));
    expect(seen.get(fresh[0].id)).toEqual([2]);
  });

  it('takes ?cursor= as the start, and Last-Event-ID over it', async () => {
    const user = await signUp(a);
    const replica = new Replica(a, user);
    await replica.sync();
    const before = replica.cursor!;
    const task = await newTask(user, { title: 'After the cursor' });
    await settled(a, user.id);
    await replica.sync();
    const byCursor = await stream(a, { token: user.token, cursor: before });
    await byCursor.changes(hasTask(task.id));
    // Last-Event-ID (after the task) wins over cursor (before it): nothing is sent.
    const byHeader = await stream(a, { token: user.token, cursor: before, lastEventId: replica.cursor });
    await new Promise((r) => setTimeout(r, 400));
    expect(byHeader.events).toEqual([]);
  });

  it('refuses a cursor that is malformed or another user’s with a 400 before anything opens', async () => {
    const user = await signUp(a);
    const other = await signUp(a);
    const theirs = new Replica(a, other);
    await theirs.sync();
    const byQuery = await stream(a, { token: user.token, cursor: theirs.cursor });
    expect(byQuery.status).toBe(400);
    expect(byQuery.body.error.details).toEqual([{ field: 'query.cursor', message: expect.any(String) }]);
    const byHeader = await stream(a, { token: user.token, lastEventId: 'bm90LWEtY3Vyc29y' });
    expect(byHeader.status).toBe(400);
    expect(byHeader.body.error.details).toEqual([{ field: 'header.last-event-id', message: expect.any(String) }]);
    const malformed = await stream(a, { token: user.token, lastEventId: 'has spaces' });
    expect(malformed.status).toBe(400);
    expect(await streamRows(user)).toBe(0);
  });
});

describe('tickets for EventSource', () => {
  it('opens one stream once: a second use, an unknown ticket and no credentials are 401s', async () => {
    const user = await signUp(a);
    const { ticket, expires_at } = await ticketOf(user);
    expect(ticket).toMatch(/^pfevt_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(expires_at) - Date.now()).toBeGreaterThan(50_000);
    expect(Date.parse(expires_at) - Date.now()).toBeLessThanOrEqual(61_000);
    // Only a hash is stored.
    const rows = await a.db.selectFrom('event_tickets').selectAll().where('user_id', '=', user.id).execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(ticket!.slice(6));

    const s = await stream(b, { ticket: ticket! });
    expect(s.status).toBe(200);
    const task = await newTask(user, { title: 'Through a ticket' });
    await s.changes(hasTask(task.id));
    for (const again of [await stream(a, { ticket: ticket! }), await stream(b, { ticket: ticket! })]) {
      expect(again.status).toBe(401);
      expect(again.body.error.code).toBe('UNAUTHORIZED');
    }
    expect((await stream(a, { ticket: `pfevt_${'A'.repeat(43)}` })).status).toBe(401);
    expect((await stream(a, {})).status).toBe(401);
  });

  it('is spent by exactly one of two instances redeeming it at once', async () => {
    const user = await signUp(a);
    const { ticket } = await ticketOf(user);
    const both = await Promise.all([stream(a, { ticket: ticket! }), stream(b, { ticket: ticket! })]);
    expect(both.map((s) => s.status).sort()).toEqual([200, 401]);
  });

  it('is refused once expired', async () => {
    const user = await signUp(a);
    const { ticket } = await ticketOf(user);
    await a.db.updateTable('event_tickets').set({ expires_at: new Date(Date.now() - 1_000) }).where('user_id', '=', user.id).execute();
    const s = await stream(a, { ticket: ticket! });
    expect(s.status).toBe(401);
    expect(s.body.error.message).toMatch(/ticket/);
  });

  it('is not spent by a refused request (a bad cursor), nor by HEAD', async () => {
    const user = await signUp(a);
    const { ticket } = await ticketOf(user);
    expect((await stream(a, { ticket: ticket!, cursor: 'bm90LWEtY3Vyc29y' })).status).toBe(400);
    const head = await stream(a, { ticket: ticket!, method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(await streamRows(user)).toBe(0);
    expect((await stream(a, { ticket: ticket! })).status).toBe(200);
  });

  it('answers a replay of its Idempotency-Key without the secret', async () => {
    const user = await signUp(a);
    const key = randomUUID();
    const first = await ticketOf(user, key);
    const replay = await user.api.post('/events/ticket', undefined, { idempotencyKey: key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.data).toEqual({ ticket: null, expires_at: first.expires_at });
    expect(JSON.stringify(await a.db.selectFrom('idempotency_keys').selectAll().execute())).not.toContain(first.ticket!);
  });

  it('is refused when its session ended, and a stream it opened ends with the session', async () => {
    const user = await signUp(a);
    const spare = await ticketOf(user);
    const { ticket } = await ticketOf(user);
    const s = await stream(b, { ticket: ticket! });
    expect(s.status).toBe(200);
    expect((await a.api.post('/auth/logout', { refresh_token: user.refreshToken })).status).toBe(200);
    const end = await s.ending(3_000);
    expect(end?.data).toEqual({ reason: 'session_ended', message: expect.any(String) });
    expect((await stream(a, { ticket: spare.ticket! })).status).toBe(401);
  });

  it('requires a bearer token to be asked for', async () => {
    const res = await a.api.post('/events/ticket', undefined, { token: null, idempotencyKey: randomUUID() });
    expect(res.status).toBe(401);
  });
});

describe('the end of a stream', () => {
  it('comes with the end of the session behind a bearer token, on another instance', async () => {
    const user = await signUp(a);
    const s = await following(b, user);
    expect((await a.api.post('/auth/logout', { refresh_token: user.refreshToken })).status).toBe(200);
    expect((await s.ending(3_000))?.data.reason).toBe('session_ended');
    await expect.poll(() => streamRows(user), { timeout: 2_000, interval: 20 }).toBe(0);
  });

  it('comes with the deletion of the account', async () => {
    const user = await signUp(a);
    const s = await following(b, user);
    const res = await user.api.delete('/users/me', { body: { confirm: user.email } });
    expect(res.status, res.text).toBeLessThan(300);
    expect((await s.ending(3_000))?.data.reason).toBe('account_deleted');
  });

  it('unregisters a stream whose client went away', async () => {
    const user = await signUp(a);
    const s = await following(b, user);
    expect(await streamRows(user)).toBe(1);
    s.close();
    await expect.poll(() => streamRows(user), { timeout: 2_000, interval: 20 }).toBe(0);
  });
});

describe('at most 10 open streams per user, across instances', () => {
  it('the 11th ends the oldest (`end` replaced); the other ten stay live', async () => {
    const user = await signUp(a);
    const streams: EventStreamClient[] = [];
    for (let i = 0; i < 10; i++) streams.push(await following(i % 2 ? b : a, user));
    expect(await streamRows(user)).toBe(10);
    const eleventh = await following(b, user);
    expect((await streams[0]!.ending(3_000))?.data).toEqual({ reason: 'replaced', message: expect.any(String) });
    expect(await streamRows(user)).toBe(10);
    const task = await newTask(user, { title: 'To all ten' });
    for (const s of [...streams.slice(1), eleventh]) await s.changes(hasTask(task.id));
    expect(streams.slice(1).every((s) => !s.isEnded)).toBe(true);
  });

  it('does not count the streams of a process that died (their lease ran out)', async () => {
    const user = await signUp(a);
    await a.db
      .insertInto('event_streams')
      .values(Array.from({ length: 10 }, () => ({ id: randomUUID(), user_id: user.id, opened_at: new Date(Date.now() - 600_000), lease_until: new Date(Date.now() - 1_000) })))
      .execute();
    const s = await following(a, user);
    expect(await streamRows(user)).toBe(1);
    expect(s.isEnded).toBe(false);
  });
});

describe('heartbeat', () => {
  it('is a comment sent on an idle stream every EVENTS_HEARTBEAT_MS', async () => {
    const user = await signUp(a);
    const s = await following(a, user);
    await s.until(() => s.comments.length >= 3, 3_000, 'three heartbeats');
    expect(s.comments.every((c) => c.text === 'heartbeat')).toBe(true);
    expect(s.events).toEqual([]);
  });
});
