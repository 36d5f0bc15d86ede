import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../../db/index.js';
import { AppError } from './errors.js';

export interface StoredResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  /**
   * What is stored for a replay instead of `body`, for an answer that shows a secret once (a
   * calendar feed URL): the secret is never written to idempotency_keys.
   */
  replayBody?: unknown;
}

export interface IdempotentRequest {
  userId: string;
  key: string;
  method: string;
  path: string;
  body: unknown;
}

/** How long a first attempt holds its key before a retry may assume it crashed and take over. */
const LEASE_SECONDS = 120;

/** Key order does not change a JSON body's meaning, so it does not change its fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export const fingerprintOf = (r: Pick<IdempotentRequest, 'method' | 'path' | 'body'>): string =>
  createHash('sha256').update(`${r.method} ${r.path}\n${canonical(r.body)}`).digest('hex');

const inUse = () => new AppError(409, 'IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still being processed');
const mismatch = () => new AppError(422, 'IDEMPOTENCY_KEY_MISMATCH', 'This Idempotency-Key was used with a different request');

/**
 * Runs `execute` at most once per (user, key) within the TTL and replays its response afterwards
 * (FR-059). The key is claimed with an insert before the work starts, so concurrent duplicates get
 * 409 instead of running twice; responses with a 5xx status are forgotten so the client may retry.
 */
export async function withIdempotency(
  db: Database,
  req: IdempotentRequest,
  ttlHours: number,
  execute: () => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  const fingerprint = fingerprintOf(req);
  const claimed = await claim(db, req, fingerprint, ttlHours);
  if (claimed !== true) return { ...claimed, replayed: true };

  let response: StoredResponse;
  try {
    response = await execute();
  } catch (err) {
    await release(db, req);
    throw err;
  }
  if (response.status >= 500) {
    await release(db, req);
  } else {
    await db
      .updateTable('idempotency_keys')
      .set({
        state: 'completed',
        response_status: response.status,
        response_body: JSON.stringify((response.replayBody !== undefined ? response.replayBody : response.body) ?? null),
        response_headers: JSON.stringify(response.headers),
        locked_until: null,
        updated_at: new Date(),
      })
      .where('user_id', '=', req.userId)
      .where('key', '=', req.key)
      .execute();
  }
  return { ...response, replayed: false };
}

/** true when this request now owns the key; otherwise the stored response to replay (or a thrown 409/422). */
async function claim(db: Database, req: IdempotentRequest, fingerprint: string, ttlHours: number): Promise<true | StoredResponse> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const inserted = await db
      .insertInto('idempotency_keys')
      .values({
        user_id: req.userId,
        key: req.key,
        fingerprint,
        method: req.method,
        path: req.path,
        state: 'in_flight',
        locked_until: sql<Date>`now() + make_interval(secs => ${LEASE_SECONDS})`,
        expires_at: sql<Date>`now() + make_interval(hours => ${ttlHours})`,
      })
      .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
      .returning('key')
      .executeTakeFirst();
    if (inserted) return true;

    const row = await db
      .selectFrom('idempotency_keys')
      .select(['fingerprint', 'state', 'response_status', 'response_body', 'response_headers', sql<boolean>`expires_at <= now()`.as('expired'), sql<boolean>`locked_until <= now()`.as('lease_over')])
      .where('user_id', '=', req.userId)
      .where('key', '=', req.key)
      .executeTakeFirst();
    if (!row) continue; // released or purged meanwhile: try to claim again
    if (row.expired) {
      await db.deleteFrom('idempotency_keys').where('user_id', '=', req.userId).where('key', '=', req.key).where('expires_at', '<=', new Date()).execute();
      continue;
    }
    if (row.fingerprint !== fingerprint) throw mismatch();
    if (row.state === 'completed') {
      return { status: row.response_status!, body: row.response_body, headers: (row.response_headers ?? {}) as Record<string, string> };
    }
    if (!row.lease_over) throw inUse();
    // The first attempt died without answering: take its key over, unless another retry just did.
    const taken = await db
      .updateTable('idempotency_keys')
      .set({ locked_until: sql<Date>`now() + make_interval(secs => ${LEASE_SECONDS})`, updated_at: new Date() })
      .where('user_id', '=', req.userId)
      .where('key', '=', req.key)
      .where('state', '=', 'in_flight')
      .where('locked_until', '<=', sql<Date>`now()`)
      .returning('key')
      .executeTakeFirst();
    if (taken) return true;
    throw inUse();
  }
  throw inUse();
}

async function release(db: Database, req: IdempotentRequest): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('user_id', '=', req.userId).where('key', '=', req.key).where('state', '=', 'in_flight').execute();
}
