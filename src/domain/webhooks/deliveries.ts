import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Database, Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import { enqueueJob } from '../../../jobs/enqueue.js';
import type { Logger } from '../../core/logging.js';
import type { WebhookSender } from '../../integrations/webhook-sender.js';
import type { Actor } from '../actor.js';
import type { EventHandler } from '../events/bus.js';
import { presentNote } from '../notes/present.js';
import { createNotification } from '../notifications/create-notification.js';
import { presentReminder } from '../reminders/present.js';
import { presentTask } from '../tasks/present.js';
import { findTaskWithCounts } from '../tasks/queries.js';
import type { WebhookEventType } from './webhooks.js';

// Deliveries of outgoing webhooks. The event handlers below run in the transaction of the change
// (wired by the composition roots): for each of the user's enabled endpoints that subscribe to the
// event, one delivery row with the exact body and one `webhook_deliver` job, so a delivery exists
// exactly when its change commits. The job sends it (no transaction held during the request),
// records the answer, and schedules the next attempt itself: its own backoff, over 24 hours.

/** graphile-worker's own retries, for a job that failed to run (database down), not for failed deliveries. */
export const WEBHOOK_JOB_MAX_ATTEMPTS = 5;
/** Deliveries are retried for this long after the event. */
export const RETRY_WINDOW_MS = 24 * 3600_000;
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_DELAY_MS = 4 * 3600_000;
/** While an attempt runs, no other run of it starts (a worker that died mid-attempt is retried after this). */
const ATTEMPT_LEASE_MS = 2 * 60_000;
/** An endpoint is disabled after this many failed attempts in a row spanning at least DISABLE_MIN_SPAN_MS … */
export const DISABLE_AFTER_FAILURES = 20;
const DISABLE_MIN_SPAN_MS = 3600_000;
/** … or after failing for this long without a success. */
const DISABLE_AFTER_FAILING_MS = 24 * 3600_000;

/** The wait after failed attempt `attempt` (1-based): 30 s, 1 min, 2 min, … at most 4 h. */
export const retryDelayMs = (attempt: number): number => Math.min(FIRST_RETRY_MS * 2 ** Math.min(attempt - 1, 20), MAX_RETRY_DELAY_MS);

export const webhookJobKey = (deliveryId: string, attempt: number) => `webhook:${deliveryId}:${attempt}`;

type Hooks = { id: string; user_id: string }[];

const hooksOfOneUser = compileOnce((v: { userId: string; type: WebhookEventType }) =>
  shapeBuilder.selectFrom('webhooks').select(['id', 'user_id']).where('user_id', '=', v.userId).where('enabled', '=', true).where(sql<boolean>`${v.type} = any(events)`),
);

/** The user's (or users') enabled endpoints that subscribe to `type`. */
const subscribedHooks = async (trx: Executor, userIds: string[], type: WebhookEventType): Promise<Hooks> =>
  userIds.length === 1
    ? (await trx.executeQuery(hooksOfOneUser({ userId: userIds[0]!, type }))).rows
    : trx.selectFrom('webhooks').select(['id', 'user_id']).where('user_id', 'in', userIds).where('enabled', '=', true).where(sql<boolean>`${type} = any(events)`).execute();

/**
 * Queues one delivery of the event to each of the endpoints given, in the caller's transaction.
 * The event id is the same for every endpoint and every attempt.
 */
async function queue(trx: Executor, { hooks, type, data }: { hooks: Hooks; type: WebhookEventType; data: Record<string, unknown> }): Promise<void> {
  if (hooks.length === 0) return;
  const eventId = randomUUID();
  const payload = JSON.stringify({ id: eventId, type, created_at: new Date().toISOString(), data });
  const rows = await trx
    .insertInto('webhook_deliveries')
    .values(hooks.map((h) => ({ webhook_id: h.id, event_id: eventId, event_type: type, payload })))
    .returning('id')
    .execute();
  for (const r of rows) {
    await enqueueJob(trx, { name: 'webhook_deliver', payload: { deliveryId: r.id, attempt: 1 }, jobKey: webhookJobKey(r.id, 1), maxAttempts: WEBHOOK_JOB_MAX_ATTEMPTS });
  }
}

/** The user's subscribed endpoints; the event's data is read only when there is one. */
async function fanOut(trx: Executor, { userId, type, data }: { userId: string; type: WebhookEventType; data: () => Promise<Record<string, unknown> | undefined> }): Promise<void> {
  const hooks = await subscribedHooks(trx, [userId], type);
  if (hooks.length === 0) return;
  const body = await data();
  if (body) await queue(trx, { hooks, type, data: body });
}

const taskData = async (trx: Executor, taskId: string) => {
  const task = await findTaskWithCounts(trx, taskId);
  return task ? { task: presentTask(task) } : undefined;
};

/**
 * The event handlers, one per event that has a webhook type (the composition roots wire them).
 * Each asks for the user's subscribed endpoints first (one indexed query) and reads the event's
 * data only when there is one: a change by a user without webhooks costs that one query. The actor
 * is the owner of what changed (tasks and notes are only ever changed by their owner's actor).
 */
export const webhookSubscribers = {
  taskCreated: (async (trx, event, actor: Actor) => {
    await fanOut(trx, { userId: actor.userId, type: 'task.created', data: () => taskData(trx, event.taskId) });
  }) satisfies EventHandler<'task.created'>,
  taskUpdated: (async (trx, event, actor: Actor) => {
    const data = async () => {
      const task = await taskData(trx, event.taskId);
      return task && { ...task, changed: event.fields };
    };
    await fanOut(trx, { userId: actor.userId, type: 'task.updated', data });
  }) satisfies EventHandler<'task.updated'>,
  taskCompleted: (async (trx, event) => {
    await fanOut(trx, { userId: event.userId, type: 'task.completed', data: () => taskData(trx, event.taskId) });
  }) satisfies EventHandler<'task.completed'>,
  taskDeleted: (async (trx, event, actor: Actor) => {
    await fanOut(trx, { userId: actor.userId, type: 'task.deleted', data: async () => ({ task_id: event.taskId, tombstone_id: event.tombstoneId }) });
  }) satisfies EventHandler<'task.deleted'>,
  noteCreated: (async (trx, event, actor: Actor) => {
    const data = async () => {
      const note = await trx.selectFrom('notes').selectAll().where('id', '=', event.noteId).executeTakeFirst();
      return note ? { note: presentNote(note) } : undefined;
    };
    await fanOut(trx, { userId: actor.userId, type: 'note.created', data });
  }) satisfies EventHandler<'note.created'>,
  reminderFired: (async (trx, event) => {
    const owners = [...new Set(event.reminders.map((r) => r.userId))];
    const hooks = await subscribedHooks(trx, owners, 'reminder.fired');
    if (hooks.length === 0) return;
    const ids = event.reminders.filter((r) => hooks.some((h) => h.user_id === r.userId)).map((r) => r.reminderId);
    const rows = await trx.selectFrom('reminders').selectAll().where('id', 'in', ids).execute();
    for (const reminder of rows) await queue(trx, { hooks: hooks.filter((h) => h.user_id === reminder.user_id), type: 'reminder.fired', data: { reminder: presentReminder(reminder) } });
  }) satisfies EventHandler<'reminder.fired'>,
};

export type DeliveryResult = 'delivered' | 'retrying' | 'failed' | 'disabled' | 'skipped';

export interface DeliverWebhookDeps {
  db: Database;
  sender: Pick<WebhookSender, 'send'>;
  log: Logger;
}

/**
 * The `webhook_deliver` job: attempt `attempt` of one delivery. The attempt is claimed first (a
 * conditional update with a lease), so a job run twice sends once; a worker that died mid-attempt
 * leaves a lease that expires, and the retried job sends again (same event id: receivers dedupe).
 * Nothing is held open during the request. A failure schedules the next attempt (its own job, run
 * at the backoff), until 24 h after the event; an endpoint failing too long is disabled and its
 * owner notified in-app.
 */
export async function deliverWebhook(deps: DeliverWebhookDeps, payload: { deliveryId: string; attempt: number }): Promise<DeliveryResult> {
  const { db, log } = deps;
  const { deliveryId, attempt } = payload;
  const claimed = await db
    .updateTable('webhook_deliveries as d')
    .from('webhooks as w')
    .set({ attempts: attempt, last_attempt_at: sql<Date>`now()`, next_attempt_at: sql<Date>`now() + make_interval(secs => ${ATTEMPT_LEASE_MS / 1000})`, updated_at: sql<Date>`now()` })
    .whereRef('w.id', '=', 'd.webhook_id')
    .where('d.id', '=', deliveryId)
    .where('d.status', '=', 'pending')
    .where('w.enabled', '=', true)
    .where((eb) => eb.or([eb('d.attempts', '=', attempt - 1), eb.and([eb('d.attempts', '=', attempt), eb('d.next_attempt_at', '<=', sql<Date>`now()`)])]))
    .returning(['d.id', 'd.webhook_id', 'd.event_id', 'd.event_type', 'd.payload', 'd.created_at', 'w.url', 'w.secret'])
    .executeTakeFirst();
  if (!claimed) {
    // A pending delivery of a disabled endpoint is given up; anything else was done meanwhile.
    const given = await db
      .updateTable('webhook_deliveries as d')
      .from('webhooks as w')
      .set({ status: 'failed', next_attempt_at: null, response_excerpt: 'The endpoint is disabled', updated_at: sql<Date>`now()` })
      .whereRef('w.id', '=', 'd.webhook_id')
      .where('d.id', '=', deliveryId)
      .where('d.status', '=', 'pending')
      .where('w.enabled', '=', false)
      .executeTakeFirst();
    return Number(given.numUpdatedRows) > 0 ? 'failed' : 'skipped';
  }

  const result = await deps.sender.send({ url: claimed.url, secret: claimed.secret, eventId: claimed.event_id, eventType: claimed.event_type, body: claimed.payload });
  const now = new Date();
  const logged = { job: 'webhook_deliver', webhook_id: claimed.webhook_id, delivery_id: claimed.id, event_id: claimed.event_id, attempt, status: result.statusCode };

  return db.transaction().execute(async (trx) => {
    // The endpoint's row first, then its delivery (every path that changes both takes them in this order).
    const hook = await trx.selectFrom('webhooks').select(['id', 'user_id', 'url', 'enabled', 'consecutive_failures', 'failing_since']).where('id', '=', claimed.webhook_id).forUpdate().executeTakeFirst();
    if (!hook) return 'skipped'; // deleted meanwhile, with its deliveries
    if (result.outcome === 'delivered') {
      await trx.updateTable('webhooks').set({ consecutive_failures: 0, failing_since: null, last_success_at: now }).where('id', '=', hook.id).execute();
      await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'succeeded', delivered_at: now, next_attempt_at: null, response_status: result.statusCode, response_excerpt: result.excerpt, updated_at: now })
        .where('id', '=', claimed.id)
        .execute();
      log.info(logged, 'webhook delivered');
      return 'delivered';
    }

    const failures = hook.consecutive_failures + 1;
    const failingSince = hook.failing_since ?? now;
    await trx.updateTable('webhooks').set({ consecutive_failures: failures, failing_since: failingSince }).where('id', '=', hook.id).execute();
    const next = new Date(now.getTime() + retryDelayMs(attempt));
    const retry = next.getTime() <= claimed.created_at.getTime() + RETRY_WINDOW_MS;
    await trx
      .updateTable('webhook_deliveries')
      .set({ status: retry ? 'pending' : 'failed', next_attempt_at: retry ? next : null, response_status: result.statusCode, response_excerpt: result.excerpt || null, updated_at: now })
      .where('id', '=', claimed.id)
      .execute();
    if (retry) await enqueueJob(trx, { name: 'webhook_deliver', payload: { deliveryId: claimed.id, attempt: attempt + 1 }, runAt: next, jobKey: webhookJobKey(claimed.id, attempt + 1), maxAttempts: WEBHOOK_JOB_MAX_ATTEMPTS });
    log.warn({ ...logged, refused: result.refused ?? false, retry_at: retry ? next.toISOString() : null }, retry ? 'webhook delivery failed; will retry' : 'webhook delivery failed; given up');

    const failingFor = now.getTime() - failingSince.getTime();
    if (hook.enabled && ((failures >= DISABLE_AFTER_FAILURES && failingFor >= DISABLE_MIN_SPAN_MS) || failingFor >= DISABLE_AFTER_FAILING_MS)) {
      await disableForFailures(trx, { hook: { id: hook.id, userId: hook.user_id, url: hook.url }, failures, now });
      log.warn({ job: 'webhook_deliver', webhook_id: hook.id, consecutive_failures: failures }, 'webhook endpoint disabled after repeated failures');
      return 'disabled';
    }
    return retry ? 'retrying' : 'failed';
  });
}

/** Disables the endpoint, gives up its pending deliveries and tells its owner, in one transaction. */
async function disableForFailures(trx: Executor, { hook, failures, now }: { hook: { id: string; userId: string; url: string }; failures: number; now: Date }): Promise<void> {
  await trx.updateTable('webhooks').set({ enabled: false, disabled_at: now, disabled_reason: 'failures', updated_at: now }).where('id', '=', hook.id).execute();
  await trx
    .updateTable('webhook_deliveries')
    .set({ status: 'failed', next_attempt_at: null, updated_at: now })
    .where('webhook_id', '=', hook.id)
    .where('status', '=', 'pending')
    .execute();
  await createNotification(trx, {
    userId: hook.userId,
    type: 'system',
    title: 'Webhook disabled',
    body: `Events are no longer sent to ${new URL(hook.url).origin}: its last ${failures} deliveries failed. Fix the endpoint, then turn it back on.`,
    actionUrl: `/settings/webhooks/${hook.id}`,
  });
}
