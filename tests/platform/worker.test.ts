import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../jobs/enqueue.js';
import { unlockJobsOfDeadWorkers } from '../../jobs/runner.js';
import { cleanup } from '../../jobs/tasks/cleanup.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp } from '../helpers/users.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const jobCount = async (task: string) =>
  Number(
    (
      await sql<{ n: number }>`select count(*) as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = ${task}`.execute(t.db)
    ).rows[0]!.n,
  );

describe('enqueueJob', () => {
  it('adds no job when the business transaction rolls back, and one when it commits', async () => {
    const before = await jobCount('cleanup');
    await t.db
      .transaction()
      .execute(async (trx) => {
        await enqueueJob(trx, { name: 'cleanup', payload: {}, runAt: new Date(Date.now() + 3_600_000) });
        throw new Error('rollback');
      })
      .catch(() => {});
    expect(await jobCount('cleanup')).toBe(before);
    await t.db.transaction().execute((trx) => enqueueJob(trx, { name: 'cleanup', payload: {}, runAt: new Date(Date.now() + 3_600_000), jobKey: 'test-cleanup' }));
    expect(await jobCount('cleanup')).toBe(before + 1);
    // The same key replaces the waiting job instead of adding another.
    await enqueueJob(t.db, { name: 'cleanup', payload: {}, runAt: new Date(Date.now() + 7_200_000), jobKey: 'test-cleanup' });
    expect(await jobCount('cleanup')).toBe(before + 1);
    await sql`select graphile_worker.remove_job('test-cleanup')`.execute(t.db);
  });
});

describe('job payloads', () => {
  it('enqueueJob refuses a malformed payload with an error naming the task and the field, and adds no job', async () => {
    const before = await jobCount('reminder_fire');
    await expect(enqueueJob(t.db, { name: 'reminder_fire', payload: { reminderId: 'not-an-id' } })).rejects.toThrow(/reminder_fire.*reminderId/);
    await expect(enqueueJob(t.db, { name: 'reminder_fire', payload: {} as never })).rejects.toThrow(/reminder_fire.*reminderId/);
    await expect(enqueueJob(t.db, { name: 'push_deliver', payload: { notificationId: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d', subscriptionId: 42 as never } })).rejects.toThrow(/push_deliver.*subscriptionId/);
    expect(await jobCount('reminder_fire')).toBe(before);
  });

  it('a malformed job never runs its task: it fails on its first attempt, for good, naming the task and the field', async () => {
    // A due reminder with no job of its own: reminder_fire, had it run, would fire it with the other due ones.
    const user = await signUp(t);
    const task = await user.api.post('/tasks', { title: 'Payload check' });
    const past = new Date(Date.now() - 60_000);
    const reminder = await t.db
      .insertInto('reminders')
      .values({ user_id: user.id, task_id: task.body.data.id, type: 'absolute', offset_minutes: null, scheduled_at: past, created_at: past, updated_at: past })
      .returning('id')
      .executeTakeFirstOrThrow();
    const { rows } = await sql<{ id: string }>`select (graphile_worker.add_job('reminder_fire', ${JSON.stringify({ reminder_id: reminder.id })}::json, max_attempts => 5)).id`.execute(t.db);
    const jobId = rows[0]!.id;
    const job = async () =>
      (await sql<{ attempts: number; max_attempts: number; last_error: string | null; locked_at: Date | null }>`select attempts, max_attempts, last_error, locked_at from graphile_worker._private_jobs where id = ${jobId}`.execute(t.db)).rows[0];
    const worker = await t.startWorker();
    try {
      await expect.poll(async () => (await job())?.last_error ?? null, { timeout: 15_000 }).toMatch(/reminder_fire.*reminderId/);
      // Failed for good on its first attempt: graphile-worker will not pick it again; it stays in the queue to be looked at.
      expect(await job()).toMatchObject({ attempts: 1, max_attempts: 1, locked_at: null });
      const failed = (await worker.metrics.registry.getSingleMetric('jobs_total')!.get()).values.find((v) => v.labels.task === 'reminder_fire' && v.labels.outcome === 'failed');
      expect(failed?.value).toBe(1);
    } finally {
      await worker.stop();
    }
    expect(await t.db.selectFrom('reminders').select(['fired']).where('id', '=', reminder.id).executeTakeFirstOrThrow()).toEqual({ fired: false });
    await t.db.deleteFrom('reminders').where('id', '=', reminder.id).execute();
    await sql`delete from graphile_worker._private_jobs where id = ${jobId}`.execute(t.db);
  });
});

describe('cleanup job', () => {
  it('deletes expired idempotency keys, old revoked tokens, month-old activity and sync command results, and keeps the rest', async () => {
    const user = await signUp(t);
    const old = new Date(Date.now() - 31 * 86_400_000);
    await t.db.insertInto('activity_logs').values([
      { user_id: user.id, entity_type: 'user', entity_id: user.id, action: 'ancient', source: 'system', request_id: null, extra_data: '{}', created_at: old },
      { user_id: user.id, entity_type: 'user', entity_id: user.id, action: 'recent', source: 'system', request_id: null, extra_data: '{}' },
    ]).execute();
    await t.db.insertInto('idempotency_keys').values([
      { user_id: user.id, key: 'old', fingerprint: 'f', method: 'POST', path: '/x', state: 'completed', expires_at: new Date(Date.now() - 1000) },
      { user_id: user.id, key: 'fresh', fingerprint: 'f', method: 'POST', path: '/x', state: 'completed', expires_at: new Date(Date.now() + 3_600_000) },
    ]).execute();
    await t.db.insertInto('refresh_tokens').values([
      { user_id: user.id, family_id: user.id, token_hash: 'h-old', expires_at: new Date(), revoked_at: new Date(Date.now() - 8 * 86_400_000), revoked_reason: 'rotated' },
      { user_id: user.id, family_id: user.id, token_hash: 'h-audit', expires_at: new Date(), revoked_at: new Date(Date.now() - 2 * 86_400_000), revoked_reason: 'rotated' },
    ]).execute();

    await t.db.insertInto('sync_commands').values([
      { user_id: user.id, uuid: '0193f1a2-6b3d-7a79-8b0c-000000000001', type: 'note_add', fingerprint: 'f', http_status: 201, created_at: old },
      { user_id: user.id, uuid: '0193f1a2-6b3d-7a79-8b0c-000000000002', type: 'note_add', fingerprint: 'f', http_status: 201 },
    ]).execute();

    const first = await cleanup(t.db);
    expect(first.activityLogs).toBeGreaterThanOrEqual(1);
    expect((await t.db.selectFrom('sync_commands').select('uuid').where('user_id', '=', user.id).execute()).map((r) => r.uuid)).toEqual(['0193f1a2-6b3d-7a79-8b0c-000000000002']);
    const actions = (await t.db.selectFrom('activity_logs').select('action').where('user_id', '=', user.id).execute()).map((r) => r.action);
    expect(actions).toContain('recent');
    expect(actions).not.toContain('ancient');
    const keys = (await t.db.selectFrom('idempotency_keys').select('key').where('user_id', '=', user.id).execute()).map((r) => r.key);
    expect(keys).toEqual(['fresh']);
    const hashes = (await t.db.selectFrom('refresh_tokens').select('token_hash').where('user_id', '=', user.id).execute()).map((r) => r.token_hash);
    expect(hashes).toContain('h-audit');
    expect(hashes).not.toContain('h-old');

    const second = await cleanup(t.db);
    expect(second).toEqual({ idempotencyKeys: 0, refreshTokens: 0, activityLogs: 0, rateLimits: 0, tombstones: 0, aiTaskCounters: 0, webhookEvents: 0, webhookDeliveries: 0, abandonedVoiceSessions: 0, syncCommands: 0 });
  });

  it('drops AI counters of expired access tokens, old webhook ids, and closes voice sessions a crash left open', async () => {
    const user = await signUp(t);
    // A counter belongs to one access token (its jti): one untouched for longer than any token lives is done.
    const liveSession = '0193f1a2-6b3d-7a79-8b0c-1d2e3f4a5b6c';
    const endedSession = '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d';
    const task = '0193f1a2-8d5f-7c9b-8d2e-3f4a5b6c7d8e';
    const longAgo = new Date(Date.now() - 61 * 60_000);
    await t.db.insertInto('ai_task_counters').values([
      { user_id: user.id, session_id: liveSession, task_id: task, count: 3 },
      { user_id: user.id, session_id: endedSession, task_id: task, count: 7, created_at: longAgo, updated_at: longAgo },
    ]).execute();
    await t.db.insertInto('webhook_events').values([
      { event_id: 'evt_old', type: 'payment_captured', processed: true, created_at: new Date(Date.now() - 91 * 86_400_000) },
      { event_id: 'evt_new', type: 'payment_captured', processed: true },
    ]).execute();
    // one active session per user (0007_voice_one_session.sql): the running one is another user's
    const other = await signUp(t);
    const [stale, running] = await t.db.insertInto('voice_sessions').values([
      { user_id: user.id, started_at: new Date(Date.now() - 2 * 3_600_000) },
      { user_id: other.id },
    ]).returning(['id']).execute();

    await cleanup(t.db);

    const sessions = (await t.db.selectFrom('ai_task_counters').select('session_id').where('user_id', '=', user.id).execute()).map((r) => r.session_id);
    expect(sessions).toEqual([liveSession]);
    const events = (await t.db.selectFrom('webhook_events').select('event_id').where('event_id', 'in', ['evt_old', 'evt_new']).execute()).map((r) => r.event_id);
    expect(events).toEqual(['evt_new']);
    const voice = await t.db.selectFrom('voice_sessions').select(['id', 'status']).where('user_id', 'in', [user.id, other.id]).execute();
    expect(voice.find((v) => v.id === stale!.id)?.status).toBe('failed');
    expect(voice.find((v) => v.id === running!.id)?.status).toBe('active');
  });

  it('runs as a job in the worker', async () => {
    const user = await signUp(t);
    await t.db.insertInto('idempotency_keys').values({ user_id: user.id, key: 'stale', fingerprint: 'f', method: 'POST', path: '/x', state: 'completed', expires_at: new Date(Date.now() - 1000) }).execute();
    const worker = await t.startWorker();
    try {
      await enqueueJob(t.db, { name: 'cleanup', payload: {} });
      await expect.poll(async () => (await t.db.selectFrom('idempotency_keys').select('key').where('key', '=', 'stale').execute()).length, { timeout: 10_000 }).toBe(0);
    } finally {
      await worker.stop();
    }
  });
});

describe('jobs of a worker that is gone', () => {
  const lockJob = (jobKey: string, workerId: string) =>
    sql`update graphile_worker._private_jobs set locked_by = ${workerId}, locked_at = now() - interval '2 minutes', attempts = attempts + 1 where key = ${jobKey}`.execute(t.db);
  const lockOf = async (jobKey: string) =>
    (await sql<{ locked_by: string | null }>`select locked_by from graphile_worker._private_jobs where key = ${jobKey}`.execute(t.db)).rows[0];
  const heartbeat = (workerId: string, secondsAgo: number) =>
    sql`insert into worker_heartbeats (worker_id, hostname, pid, beat_at) values (${workerId}, 'h', 1, now() - make_interval(secs => ${secondsAgo}))`.execute(t.db);
  const later = () => new Date(Date.now() + 3_600_000);

  it('frees the jobs of a worker that stopped beating (or never did), and leaves a beating worker’s long job alone', async () => {
    for (const key of ['gone-1', 'gone-2', 'busy']) await enqueueJob(t.db, { name: 'cleanup', payload: {}, runAt: later(), jobKey: key });
    await heartbeat('pool-crashed', 120);
    await heartbeat('pool-busy', 1);
    await lockJob('gone-1', 'pool-crashed');
    await lockJob('gone-2', 'pool-never-beat');
    await lockJob('busy', 'pool-busy');

    expect((await unlockJobsOfDeadWorkers(t.db, 60)).sort()).toEqual(['pool-crashed', 'pool-never-beat']);
    expect(await lockOf('gone-1')).toEqual({ locked_by: null });
    expect(await lockOf('gone-2')).toEqual({ locked_by: null });
    expect(await lockOf('busy')).toEqual({ locked_by: 'pool-busy' });
    // A lock younger than the stale time is a job that just started: not freed.
    expect(await unlockJobsOfDeadWorkers(t.db, 600)).toEqual([]);

    await sql`update graphile_worker._private_jobs set locked_by = null, locked_at = null where key = 'busy'`.execute(t.db);
    for (const key of ['gone-1', 'gone-2', 'busy']) await sql`select graphile_worker.remove_job(${key})`.execute(t.db);
    await t.db.deleteFrom('worker_heartbeats').where('worker_id', 'in', ['pool-crashed', 'pool-busy']).execute();
  });

  it('a starting worker runs the job a crashed worker held, without waiting graphile-worker’s 4 hours', async () => {
    const user = await signUp(t);
    await t.db.insertInto('idempotency_keys').values({ user_id: user.id, key: 'left-by-crash', fingerprint: 'f', method: 'POST', path: '/x', state: 'completed', expires_at: new Date(Date.now() - 1000) }).execute();
    await enqueueJob(t.db, { name: 'cleanup', payload: {}, jobKey: 'held-by-crashed-worker' });
    await heartbeat('pool-killed', 120);
    await lockJob('held-by-crashed-worker', 'pool-killed');
    const worker = await t.startWorker();
    try {
      expect(worker.workerId).toMatch(/^pool-/);
      await expect.poll(async () => (await t.db.selectFrom('idempotency_keys').select('key').where('key', '=', 'left-by-crash').execute()).length, { timeout: 10_000 }).toBe(0);
      await expect.poll(() => lockOf('held-by-crashed-worker'), { timeout: 10_000 }).toBeUndefined();
    } finally {
      await worker.stop();
      await t.db.deleteFrom('worker_heartbeats').where('worker_id', '=', 'pool-killed').execute();
    }
  });
});
