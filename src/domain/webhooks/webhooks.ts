import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import type { WebhookDeliveryRow, WebhookRow } from '../../../db/schema/index.js';
import { forbidden, invalidField, limitExceeded, notFound } from '../../core/errors.js';
import { toPage, type PageParams, type Pagination } from '../../core/pagination.js';
import type { UrlCheck } from '../../integrations/webhook-sender.js';
import { lockFor } from '../locks.js';
import { iso } from '../time.js';

// Outgoing webhooks (issue 19 item 4): a user's endpoints. Deliveries are in ./deliveries.ts.

export type Webhook = components['schemas']['Webhook'];
export type WebhookCreated = components['schemas']['WebhookCreated'];
export type WebhookDelivery = components['schemas']['WebhookDelivery'];
export type WebhookEventType = components['schemas']['WebhookEventType'];

/** Endpoints per user, counted under the 'webhooks' lock. */
export const MAX_WEBHOOKS_PER_USER = 10;

/** The early address check (the sender's): https, no credentials, a public host. */
export type CheckUrl = (url: string) => Promise<UrlCheck>;

const isoOrNull = (d: Date | null) => (d ? iso(d) : null);

export const presentWebhook = (w: WebhookRow): Webhook => ({
  id: w.id,
  url: w.url,
  events: w.events as WebhookEventType[],
  description: w.description,
  enabled: w.enabled,
  disabled_at: isoOrNull(w.disabled_at),
  disabled_reason: w.disabled_reason as Webhook['disabled_reason'],
  consecutive_failures: w.consecutive_failures,
  last_success_at: isoOrNull(w.last_success_at),
  created_at: iso(w.created_at),
  updated_at: iso(w.updated_at),
});

export const presentDelivery = (d: WebhookDeliveryRow): WebhookDelivery => ({
  id: d.id,
  webhook_id: d.webhook_id,
  event_id: d.event_id,
  event_type: d.event_type as WebhookEventType,
  status: d.status as WebhookDelivery['status'],
  attempts: d.attempts,
  last_attempt_at: isoOrNull(d.last_attempt_at),
  next_attempt_at: isoOrNull(d.next_attempt_at),
  response_status: d.response_status,
  response_excerpt: d.response_excerpt,
  delivered_at: isoOrNull(d.delivered_at),
  created_at: iso(d.created_at),
});

/** A new signing secret: 32 random bytes, `whsec_` + base64url (49 characters). */
const newSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

async function checkedUrl(checkUrl: CheckUrl, url: string): Promise<string> {
  const check = await checkUrl(url);
  if (!check.ok) throw invalidField('body.url', check.message);
  return url;
}

/** The same event twice is one subscription (the contract says uniqueItems; order kept). */
const uniqueEvents = (events: WebhookEventType[]) => [...new Set(events)];

export interface CreateWebhookInput {
  url: string;
  events: WebhookEventType[];
  description?: string;
}

/**
 * Adds an endpoint under the per-user limit, with a fresh signing secret answered once. The URL's
 * address is checked before anything is stored; `replay` is what an idempotent replay answers (no secret).
 */
export async function createWebhook(db: Database, { checkUrl, userId, input }: { checkUrl: CheckUrl; userId: string; input: CreateWebhookInput }): Promise<{ webhook: WebhookCreated; replay: WebhookCreated }> {
  const url = await checkedUrl(checkUrl, input.url);
  const row = await db.transaction().execute(async (trx) => {
    await lockFor(trx, 'webhooks', userId);
    const { count } = await trx.selectFrom('webhooks').select((eb) => eb.fn.countAll<string>().as('count')).where('user_id', '=', userId).executeTakeFirstOrThrow();
    if (Number(count) >= MAX_WEBHOOKS_PER_USER) throw limitExceeded(`A user can have at most ${MAX_WEBHOOKS_PER_USER} webhook endpoints`, MAX_WEBHOOKS_PER_USER);
    return trx
      .insertInto('webhooks')
      .values({ user_id: userId, url, events: uniqueEvents(input.events), description: input.description ?? null, secret: newSecret() })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
  const shown = presentWebhook(row);
  return { webhook: { ...shown, secret: row.secret }, replay: { ...shown, secret: null } };
}

async function ownedWebhook(db: Executor, userId: string, webhookId: string): Promise<WebhookRow> {
  const row = await db.selectFrom('webhooks').selectAll().where('id', '=', webhookId).executeTakeFirst();
  if (!row) throw notFound('Webhook');
  if (row.user_id !== userId) throw forbidden();
  return row;
}

export async function getWebhook(db: Executor, userId: string, webhookId: string): Promise<Webhook> {
  return presentWebhook(await ownedWebhook(db, userId, webhookId));
}

export async function listWebhooks(db: Executor, userId: string, page: PageParams): Promise<{ data: Webhook[]; pagination: Pagination }> {
  const rows = await db.selectFrom('webhooks').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').offset(page.offset).limit(page.limit).execute();
  return toPage(rows, page, { present: presentWebhook, countAll: async () => {
    const { count } = await db.selectFrom('webhooks').select((eb) => eb.fn.countAll<string>().as('count')).where('user_id', '=', userId).executeTakeFirstOrThrow();
    return Number(count);
  } });
}

export interface UpdateWebhookInput {
  url?: string;
  events?: WebhookEventType[];
  description?: string | null;
  enabled?: boolean;
}

/**
 * Changes an endpoint. A new URL is checked like a created one; `enabled: true` starts a disabled
 * endpoint afresh (failure count reset). The secret never changes here.
 */
export async function updateWebhook(db: Database, { checkUrl, userId, webhookId, input }: { checkUrl: CheckUrl; userId: string; webhookId: string; input: UpdateWebhookInput }): Promise<Webhook> {
  await ownedWebhook(db, userId, webhookId); // 404/403 before the (slow) address check
  const url = input.url === undefined ? undefined : await checkedUrl(checkUrl, input.url);
  const now = new Date();
  const row = await db
    .updateTable('webhooks')
    .set({
      ...(url !== undefined ? { url } : {}),
      ...(input.events !== undefined ? { events: uniqueEvents(input.events) } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.enabled === true ? { enabled: true, disabled_at: null, disabled_reason: null, consecutive_failures: 0, failing_since: null } : {}),
      ...(input.enabled === false ? { enabled: false } : {}),
      updated_at: now,
    })
    .where('id', '=', webhookId)
    .where('user_id', '=', userId)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw notFound('Webhook');
  return presentWebhook(row);
}

/** Deletes an endpoint with its deliveries; their waiting jobs find nothing to send. */
export async function deleteWebhook(db: Executor, userId: string, webhookId: string): Promise<{ id: string; deleted: true }> {
  await ownedWebhook(db, userId, webhookId);
  const row = await db.deleteFrom('webhooks').where('id', '=', webhookId).where('user_id', '=', userId).returning('id').executeTakeFirst();
  if (!row) throw notFound('Webhook');
  return { id: row.id, deleted: true };
}

export async function listWebhookDeliveries(db: Executor, { userId, webhookId, page }: { userId: string; webhookId: string; page: PageParams }): Promise<{ data: WebhookDelivery[]; pagination: Pagination }> {
  await ownedWebhook(db, userId, webhookId);
  const rows = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('webhook_id', '=', webhookId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .offset(page.offset)
    .limit(page.limit)
    .execute();
  return toPage(rows, page, { present: presentDelivery, countAll: async () => {
    const { count } = await db.selectFrom('webhook_deliveries').select(sql<string>`count(*)`.as('count')).where('webhook_id', '=', webhookId).executeTakeFirstOrThrow();
    return Number(count);
  } });
}
