import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import type { PushSubscriptionRow } from '../../../db/schema/index.js';
import { conflict, invalidField, notFound } from '../../core/errors.js';
import type { PushSender } from '../../integrations/web-push.js';
import { iso } from '../time.js';

type PushSubscription = components['schemas']['PushSubscription'];

export const presentPushSubscription = (r: PushSubscriptionRow): PushSubscription => ({
  id: r.id,
  endpoint: r.endpoint,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

export interface PushKeys {
  endpoint: string;
  p256dh: string;
  auth: string;
}

const base64url = (s: string) => Buffer.from(s.replace(/=+$/, ''), 'base64url');

/** The keys a push service needs to encrypt for the browser (RFC 8291): a P-256 point and a 16-byte secret. */
function checkKeys(keys: PushKeys): void {
  const p256dh = base64url(keys.p256dh);
  if (p256dh.length !== 65 || p256dh[0] !== 0x04) throw invalidField('body.p256dh_key', 'must be an uncompressed P-256 public key (65 bytes, base64url)');
  if (base64url(keys.auth).length !== 16) throw invalidField('body.auth_key', 'must be a 16-byte authentication secret (base64url)');
}

/**
 * Stores the browser's subscription (FR-028a). The same endpoint again from the same user updates
 * its keys; an endpoint another user registered is a 409 and is never taken over (the conditional
 * upsert cannot move it, even when two users race for it). An endpoint on a private, loopback or
 * link-local address (literally or by DNS) is refused before anything is stored: the server would
 * never deliver to it, and storing it would let a client point the worker at internal hosts.
 */
export async function registerPushSubscription(db: Executor, { push, userId, keys }: { push: Pick<PushSender, 'checkEndpoint'>; userId: string; keys: PushKeys }): Promise<{ subscription: PushSubscriptionRow; created: boolean }> {
  checkKeys(keys);
  const endpoint = await push.checkEndpoint(keys.endpoint);
  if (!endpoint.ok) throw invalidField('body.endpoint', endpoint.message);
  const row = await db
    .insertInto('push_subscriptions')
    .values({ user_id: userId, endpoint: keys.endpoint, p256dh_key: keys.p256dh, auth_key: keys.auth })
    .onConflict((oc) =>
      oc
        .column('endpoint')
        .doUpdateSet({ p256dh_key: keys.p256dh, auth_key: keys.auth, updated_at: sql`now()` })
        .where('push_subscriptions.user_id', '=', userId),
    )
    .returningAll()
    // xmax is 0 for a row this statement inserted, non-zero for one it updated
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirst();
  if (!row) throw conflict('This push endpoint is registered to another account');
  const { created, ...subscription } = row;
  return { subscription, created };
}

/** Deletes the caller's subscription with this endpoint; another user's is not revealed (404). */
export async function removePushSubscription(db: Executor, userId: string, endpoint: string): Promise<string> {
  const row = await db.deleteFrom('push_subscriptions').where('endpoint', '=', endpoint).where('user_id', '=', userId).returning('id').executeTakeFirst();
  if (!row) throw notFound('Push subscription');
  return row.id;
}
