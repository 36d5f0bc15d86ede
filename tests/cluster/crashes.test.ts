import net from 'node:net';
import { sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../db/index.js';
import type { DB } from '../../db/schema/index.js';
import { lockFor } from '../../src/domain/locks.js';
import { armReminder, reminderJobKey } from '../../src/domain/reminders/schedule.js';
import { createTestDatabase, startTestApp, type TestApp } from '../helpers/app.js';
import { TestClient } from '../helpers/client.js';
import { diffSnapshots, snapshotDatabase } from '../helpers/db-snapshot.js';
import { serviceEnv, startService, stopAllServices, type Service } from '../helpers/services.js';
import { signUp, type TestUser } from '../helpers/users.js';

// Crashes of real processes (SIGKILL, no shutdown code runs) and a database that goes away. To kill
// a process in the middle of its work, deterministically, the test holds a lock the work needs: the
// process blocks inside its transaction, the test sees it waiting (pg_blocking_pids), kills it, and
// only then lets go of the lock.

const STALE_SECONDS = 5; // the smallest WORKER_HEARTBEAT_STALE_SECONDS allowed

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let handle: DatabaseHandle;
/** The same code in-process, to prepare data and to read it back through the API. */
let t: TestApp;
let proxy: PgProxy;
let env: Record<string, string>;
/** The API behind the cuttable proxy (c), and the API killed during a write (b). */
let apiBehindProxy: Service;
let apiToKill: Service;

// Tests here start and kill real processes: seconds on a quiet machine, far longer on a loaded one.
vi.setConfig({ testTimeout: 120_000 });

beforeAll(async () => {
  database = await createTestDatabase();
  handle = createDatabase(database.url, { max: 4 });
  t = await startTestApp({ databaseUrl: database.url });
  proxy = await startPgProxy(new URL(database.url));
  // The API behind the proxy gives up on a silent connection after 1.5 s (production: 30 s), and
  // holds 4 connections: after a partition each dead one costs a probe that long before it is replaced.
  env = serviceEnv(database.url, { WORKER_HEARTBEAT_STALE_SECONDS: String(STALE_SECONDS), DATABASE_QUERY_TIMEOUT_MS: '1500' });
  const viaProxy = new URL(database.url);
  viaProxy.port = String(proxy.port);
  [apiToKill, apiBehindProxy] = await Promise.all([startService('api', env), startService('api', { ...env, DATABASE_URL: viaProxy.toString(), DATABASE_POOL_MAX: '4' })]);
}, 240_000); // four processes start; seconds each on a quiet machine, far longer on a loaded one

afterAll(async () => {
  await stopAllServices();
  await proxy?.close();
  await t?.close(); // does not drop the database: it was given one
  await handle?.close();
  await database?.drop();
});

/** Holds `take(trx)`'s lock in an open transaction until `release()`; `pid` is its backend. */
async function holdLock(take: (trx: Transaction<DB>) => Promise<unknown>) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let ready!: (pid: number) => void;
  const held = new Promise<number>((r) => (ready = r));
  const done = handle.db.transaction().execute(async (trx) => {
    await take(trx);
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
    ready(rows[0]!.pid);
    await released;
  });
  const pid = await held;
  return {
    pid,
    async release() {
      release();
      await done;
    },
  };
}

/** The backend of `applicationName` that waits for `holderPid`'s lock, once there is one. */
async function blockedBackend(applicationName: string, holderPid: number): Promise<{ pid: number; wrote: boolean }> {
  let found: { pid: number; wrote: boolean } | undefined;
  await expect
    .poll(
      async () => {
        const { rows } = await sql<{ pid: number; wrote: boolean }>`
          select pid, backend_xid is not null as wrote from pg_stat_activity
          where datname = ${database.name} and application_name = ${applicationName} and ${holderPid} = any(pg_blocking_pids(pid))`.execute(handle.db);
        found = rows[0];
        return found;
      },
      { timeout: 15_000, interval: 50 },
    )
    .toBeDefined();
  return found!;
}

/** PostgreSQL ends a killed client's backend once it reads the closed socket. */
const backendGone = (pid: number) =>
  expect.poll(async () => (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where pid = ${pid}`.execute(handle.db)).rows[0]!.n, { timeout: 10_000, interval: 50 }).toBe(0);

describe('a worker killed with SIGKILL in the middle of a job', () => {
  it('leaves the job to a restarted worker, which completes it exactly once in effect', async () => {
    const worker = await startService('worker', env);
    const user = await signUp(t);
    const task = (await user.api.post('/tasks', { title: 'Call the plumber' })).body.data;
    const reminder = (await user.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: new Date(Date.now() + 3_600_000).toISOString() })).body.data;
    // Due now (committed), while its job still waits an hour...
    await handle.db.updateTable('reminders').set({ scheduled_at: sql<Date>`now() - interval '1 minute'` }).where('id', '=', reminder.id).execute();
    // ...then the test locks the row and lets the job run: reminder_fire blocks on the row inside its transaction.
    const lock = await holdLock((trx) => trx.selectFrom('reminders').select('id').where('id', '=', reminder.id).forUpdate().execute());
    await armReminder(handle.db, { id: reminder.id, scheduled_at: new Date() });
    const job = () => sql<{ locked_by: string | null; attempts: number }>`select locked_by, attempts from graphile_worker._private_jobs where key = ${reminderJobKey(reminder.id)}`.execute(handle.db).then((r) => r.rows[0]);
    const blocked = await blockedBackend('perpetua-flow-worker', lock.pid);
    expect(await job()).toEqual({ locked_by: worker.workerId, attempts: 1 });

    await worker.kill('SIGKILL');
    await lock.release();
    await backendGone(blocked.pid);

    // Nothing of the interrupted run is left, and the job is still locked by the dead worker:
    // graphile-worker alone would leave it there for 4 hours.
    const notifications = () => handle.db.selectFrom('notifications').select('id').where('task_id', '=', task.id).execute();
    expect(await notifications()).toEqual([]);
    expect(await handle.db.selectFrom('reminders').select(['fired', 'fired_at']).where('id', '=', reminder.id).executeTakeFirst()).toEqual({ fired: false, fired_at: null });
    expect(await job()).toEqual({ locked_by: worker.workerId, attempts: 1 });

    // A new worker process (another pool id) frees it once the dead one's heartbeat is stale, and runs it.
    const restarted = await startService('worker', env);
    expect(restarted.workerId).not.toBe(worker.workerId);
    await expect.poll(async () => (await notifications()).length, { timeout: 20_000, interval: 100 }).toBe(1);
    await expect.poll(job, { timeout: 5_000 }).toBeUndefined();
    expect(restarted.logs.some((line) => line.includes('unlocked the jobs of workers that stopped beating') && line.includes(worker.workerId))).toBe(true);

    // Exactly once in effect: one notification, one activity entry, the reminder fired.
    expect(await notifications()).toHaveLength(1);
    expect(await handle.db.selectFrom('activity_logs').select('action').where('entity_id', '=', reminder.id).where('action', '=', 'reminder_fired').execute()).toHaveLength(1);
    expect((await user.api.get(`/reminders/${reminder.id}`)).body.data).toMatchObject({ fired: true, fired_at: expect.stringMatching(/Z$/) });
    await restarted.kill('SIGTERM');
  }, 45_000);
});

describe('an API killed with SIGKILL during a multi-row write', () => {
  it('leaves no partial state: a force-complete of a task with 10 subtasks is all or nothing', async () => {
    const user = await signUp(t, { tier: 'pro' });
    const task = (await user.api.post('/tasks', { title: 'Move house' })).body.data;
    for (let i = 0; i < 10; i++) expect((await user.api.post(`/tasks/${task.id}/subtasks`, { title: `Box ${i + 1}` })).status).toBe(201);
    const before = await snapshotDatabase(t);

    // The completion's achievement check waits for this lock, after the task and subtask rows were written.
    const lock = await holdLock((trx) => lockFor(trx, 'achievements', user.id));
    const key = 'force-complete-during-crash';
    const request = new TestClient(apiToKill.baseUrl, user.token).post(`/tasks/${task.id}/force-complete`, { version: 1 }, { idempotencyKey: key }).then(
      (res) => ({ answered: res.status }),
      (err: Error) => ({ failed: err.message }),
    );
    const blocked = await blockedBackend('perpetua-flow-api', lock.pid);
    expect(blocked.wrote).toBe(true); // it is mid-write: its transaction already changed rows

    await apiToKill.kill('SIGKILL');
    expect(await request).toEqual({ failed: 'fetch failed' });
    await lock.release();
    await backendGone(blocked.pid);

    // Nothing of the half-done transaction is visible: every row is as it was.
    expect(diffSnapshots(before, await snapshotDatabase(t))).toEqual({});
    const detail = (await user.api.get(`/tasks/${task.id}`)).body.data;
    expect(detail).toMatchObject({ completed: false, version: 1, subtask_completed_count: 0 });

    // The key stays claimed by the dead request until its lease ends (the client may not know
    // whether it ran): a retry in the meantime is told so...
    const early = await user.api.post(`/tasks/${task.id}/force-complete`, { version: 1 }, { idempotencyKey: key });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('IDEMPOTENCY_KEY_IN_USE');
    // ...and once the lease is over, the retry runs it exactly once.
    await handle.db.updateTable('idempotency_keys').set({ locked_until: new Date(Date.now() - 1000) }).where('user_id', '=', user.id).where('key', '=', key).execute();
    const retry = await user.api.post(`/tasks/${task.id}/force-complete`, { version: 1 }, { idempotencyKey: key });
    expect(retry.status, retry.text).toBe(200);
    expect(retry.body.data.task).toMatchObject({ completed: true, completed_by: 'force', version: 2, subtask_count: 10, subtask_completed_count: 10 });
    const completions = await handle.db.selectFrom('activity_logs').select('action').where('entity_id', '=', task.id).where('action', '=', 'task_completed').execute();
    expect(completions).toHaveLength(1);
  });
});

describe('the database becoming unreachable', () => {
  let worker: Awaited<ReturnType<TestApp['startWorker']>>;
  let user: TestUser;
  let api: TestClient;
  beforeAll(async () => {
    worker = await t.startWorker(); // beats directly, so readiness depends on the API's own database access
    user = await signUp(t);
    api = new TestClient(apiBehindProxy.baseUrl);
  });
  afterAll(async () => {
    proxy.restore();
    await worker?.stop();
  });

  /** Requests at once, so that the API's pool holds several open connections when the database goes. */
  const burst = async (n: number) => (await Promise.all(Array.from({ length: n }, () => api.as(user.token).get('/users/me')))).map((r) => r.status);

  it.each([
    ['goes away (connections reset, new ones refused)', 'refuse'],
    ['stops answering (connections stay open but silent, as across a network partition)', 'blackhole'],
  ] as const)('that %s: /health/ready answers 503 while it lasts, and the API recovers without a restart', async (_what, mode) => {
    await expect.poll(async () => (await api.get('/health/ready')).status, { timeout: 10_000 }).toBe(200);
    expect(await burst(20)).toEqual(Array(20).fill(200));

    proxy.cut(mode);
    const down = await api.get('/health/ready');
    expect(down.status).toBe(503);
    expect(down.body.checks.database).toEqual({ status: 'unavailable' });
    expect((await api.get('/health/live')).status).toBe(200);
    const during = await api.as(user.token).get('/users/me');
    expect(during.status).toBe(503);
    expect(during.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', request_id: expect.any(String) });
    expect(during.headers.get('retry-after')).toBe('5');
    expect((await api.get('/health/ready')).status).toBe(503);

    proxy.restore();
    await expect.poll(async () => (await api.get('/health/ready')).status, { timeout: 15_000, interval: 200 }).toBe(200);
    expect(await burst(20)).toEqual(Array(20).fill(200));
    // The same process throughout.
    expect(process.kill(apiBehindProxy.pid, 0)).toBe(true);
  }, 40_000);
});

interface PgProxy {
  port: number;
  /**
   * `refuse`: drops every open connection and refuses new ones, as a database that went away.
   * `blackhole`: open connections stay open but nothing passes any more, and new ones are accepted
   * and never answered, as across a network partition (they stay dead after `restore`).
   */
  cut(mode: 'refuse' | 'blackhole'): void;
  restore(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 in front of the test's PostgreSQL. */
async function startPgProxy(target: URL): Promise<PgProxy> {
  let mode: 'up' | 'refuse' | 'blackhole' = 'up';
  const links = new Set<{ client: net.Socket; upstream: net.Socket; dead: boolean }>();
  const silent = new Set<net.Socket>();
  const server = net.createServer((client) => {
    client.on('error', () => {});
    if (mode === 'refuse') return void client.destroy();
    if (mode === 'blackhole') {
      silent.add(client);
      return;
    }
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    upstream.on('error', () => {});
    const link = { client, upstream, dead: false };
    links.add(link);
    client.on('data', (d) => void (link.dead || upstream.write(d)));
    upstream.on('data', (d) => void (link.dead || client.write(d)));
    client.on('close', () => {
      upstream.destroy();
      links.delete(link);
    });
    upstream.on('close', () => void (link.dead || client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut(how) {
      mode = how;
      for (const link of links) {
        link.dead = true;
        link.upstream.destroy();
        if (how === 'refuse') link.client.destroy();
        else silent.add(link.client);
      }
      links.clear();
    },
    restore() {
      mode = 'up';
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const link of links) link.client.destroy();
        for (const socket of silent) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
