import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../../db/index.js';
import { compileOnce } from '../../db/query-shapes.js';
import { AppError } from './errors.js';
import { canonicalJson } from '../core/canonical-json.js';

export interface StoredResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  /**
   * What is stored for a replay instead of `body`, for an answer that shows a secret once (a
   * calendar feed URL): the secret is never written to idempotency_keys.
   */
  replayBody?: unknown;
  /**
   * The body's JSON text, written instead of serializing `body` again: a replay's exactly as first
   * sent, or a success's as its compiled serializer wrote it (which is also what is stored for a replay).
   */
  bodyText?: string;
}

export interface IdempotentRequest {
  userId: string;
  key: string;
  method: string;
  path: string;
  body: unknown;
  /** How long the answer is kept for a retry. */
  ttlHours: number;
}

/** How long a first attempt holds its key before a retry may assume it crashed and take over. */
const LEASE_SECONDS = 120;

/**
 * The key's own writes (claim, stored answer, release) commit without waiting for the WAL flush:
 * flush waits were most of a write's latency in the benchmark (three per write; the work itself
 * commits synchronously as before). What a database crash could take: a claim whose work changed
 * nothing (its work's synchronous commit flushes the claim with it: WAL is written in order); a
 * release (a retry waits for the lease); a stored answer of the last few milliseconds, whose client
 * already has that answer, so only a client that also lost it and retries after the lease (120 s)
 * would run the work again, as after a crash of the API process between work and answer.
 */
const WITHOUT_FLUSH_WAIT = sql`(select set_config('synchronous_commit', 'off', true)) as no_flush_wait`;

export const fingerprintOf = (r: Pick<IdempotentRequest, 'method' | 'path' | 'body'>): string =>
  createHash('sha256').update(`${r.method} ${r.path}\n${canonicalJson(r.body)}`).digest('hex');

const inUse = () => new AppError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still being processed');
const mismatch = () => new AppError('IDEMPOTENCY_KEY_MISMATCH', 'This Idempotency-Key was used with a different request');

/**
 * Runs `execute` at most once per (user, key) within the TTL and replays its response afterwards
 * (FR-059). The key is claimed with an insert before the work starts, so concurrent duplicates get
 * 409 instead of running twice; responses with a 5xx status are forgotten so the client may retry.
 */
export async function withIdempotency(db: Database, req: IdempotentRequest, execute: () => Promise<StoredResponse>): Promise<StoredResponse & { replayed: boolean }> {
  const fingerprint = fingerprintOf(req);
  const claimed = await claim(db, req, fingerprint);
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
    const stored = response.replayBody !== undefined ? JSON.stringify(response.replayBody ?? null) : (response.bodyText ?? JSON.stringify(response.body ?? null));
    await db.executeQuery(storeResponse({ status: response.status, stored, headers: JSON.stringify(response.headers), userId: req.userId, key: req.key }));
  }
  return { ...response, replayed: false };
}

const claimKey = compileOnce(
  (v: { userId: string; key: string; fingerprint: string; method: string; path: string; ttlHours: number }) => sql<{ key: string }>`
      insert into idempotency_keys (user_id, key, fingerprint, method, path, state, locked_until, expires_at)
      select ${v.userId}, ${v.key}, ${v.fingerprint}, ${v.method}, ${v.path}, 'in_flight',
             now() + make_interval(secs => ${LEASE_SECONDS}), now() + make_interval(hours => ${v.ttlHours})
        from ${WITHOUT_FLUSH_WAIT}
      on conflict (user_id, key) do nothing
      returning key`,
);

const storeResponse = compileOnce(
  (v: { status: number; stored: string; headers: string; userId: string; key: string }) => sql`update idempotency_keys
                 set state = 'completed', response_status = ${v.status}, response_body = ${v.stored}::jsonb, response_text = ${v.stored},
                     response_headers = ${v.headers}::jsonb, locked_until = null, updated_at = now()
                from ${WITHOUT_FLUSH_WAIT}
               where user_id = ${v.userId} and key = ${v.key}`,
);

/** true when this request now owns the key; otherwise the stored response to replay (or a thrown 409/422). */
async function claim(db: Database, req: IdempotentRequest, fingerprint: string): Promise<true | StoredResponse> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const { rows: inserted } = await db.executeQuery(claimKey({ userId: req.userId, key: req.key, fingerprint, method: req.method, path: req.path, ttlHours: req.ttlHours }));
    if (inserted.length > 0) return true;

    const row = await db
      .selectFrom('idempotency_keys')
      .select(['fingerprint', 'state', 'response_status', 'response_body', 'response_text', 'response_headers', sql<boolean>`expires_at <= now()`.as('expired'), sql<boolean>`locked_until <= now()`.as('lease_over')])
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
      return {
        status: row.response_status!,
        body: row.response_body,
        headers: (row.response_headers ?? {}) as Record<string, string>,
        ...(row.response_text !== null ? { bodyText: row.response_text } : {}),
      };
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
  await sql`delete from idempotency_keys using ${WITHOUT_FLUSH_WAIT}
             where user_id = ${req.userId} and key = ${req.key} and state = 'in_flight'`.execute(db);
}
