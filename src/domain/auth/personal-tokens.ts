import { createHash, randomBytes } from 'node:crypto';
import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import { forbidden, invalidField, limitExceeded, notFound, unauthorized } from '../../core/errors.js';
import type { LiveKeyCache, LiveKeys } from '../live-keys.js';
import { lockFor } from '../locks.js';
import { isoOrNull } from '../time.js';

// Personal access tokens (issue #19 item 3): Bearer credentials for scripts, integrations and the
// user's AI assistant, each limited to its scopes. The secret is shown once, in the answer that
// makes it; only its SHA-256 is stored (256 random bits: a slow hash would add nothing) and a
// token is found by that hash, so no secret is compared byte by byte. Deleting the row revokes the
// token: a trigger (db/migrations/0021) notifies PERSONAL_TOKEN_REVOKED_CHANNEL at commit, and
// every API process forgets it at once (live-keys.ts), as for ended sessions.

export type TokenScope = components['schemas']['TokenScope'];
export type PersonalToken = components['schemas']['PersonalToken'];
export type PersonalTokenCreated = components['schemas']['PersonalTokenCreated'];

export const PERSONAL_TOKEN_PREFIX = 'pfpat_';
export const PERSONAL_TOKEN_REVOKED_CHANNEL = 'personal_token_revoked';
/** How many tokens one user may hold (documented on createPersonalToken). */
export const MAX_PERSONAL_TOKENS = 50;
/** `last_used_at` is written at most this often per token. */
const TOUCH_INTERVAL_MS = 60_000;

export const isPersonalToken = (bearer: string): boolean => bearer.startsWith(PERSONAL_TOKEN_PREFIX);
export const hashPersonalToken = (token: string): string => createHash('sha256').update(token).digest('hex');
const newSecret = () => `${PERSONAL_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;

interface TokenRow {
  id: string;
  name: string;
  scopes: string[];
  expires_at: Date | null;
  created_at: Date;
  last_used_at: Date | null;
}

const present = (row: TokenRow): PersonalToken => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes as TokenScope[],
  expires_at: isoOrNull(row.expires_at),
  created_at: row.created_at.toISOString(),
  last_used_at: isoOrNull(row.last_used_at),
});

/**
 * Makes a token for the user. `created.token` is the secret, shown once; `replay` is the same answer
 * without it, for the idempotency store. At most MAX_PERSONAL_TOKENS per user, counted under a lock.
 */
export async function createPersonalToken(
  db: Executor,
  input: { userId: string; name: string; scopes: readonly TokenScope[]; expiresAt?: string | null; now?: Date },
): Promise<{ created: PersonalTokenCreated; replay: PersonalTokenCreated }> {
  const now = input.now ?? new Date();
  const name = input.name.trim();
  if (!name) throw invalidField('body.name', 'name must not be blank');
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) throw invalidField('body.expires_at', 'expires_at must be in the future');
  const scopes = [...new Set(input.scopes)];
  const secret = newSecret();
  const row = await db.transaction().execute(async (trx) => {
    await lockFor(trx, 'personal-tokens', input.userId);
    const { count } = await trx.selectFrom('personal_access_tokens').select((eb) => eb.fn.countAll<string>().as('count')).where('user_id', '=', input.userId).executeTakeFirstOrThrow();
    if (Number(count) >= MAX_PERSONAL_TOKENS) throw limitExceeded(`A user may have at most ${MAX_PERSONAL_TOKENS} personal access tokens`, MAX_PERSONAL_TOKENS);
    return trx
      .insertInto('personal_access_tokens')
      .values({ user_id: input.userId, name, scopes, token_hash: hashPersonalToken(secret), expires_at: expiresAt, created_at: now })
      .returning(['id', 'name', 'scopes', 'expires_at', 'created_at', 'last_used_at'])
      .executeTakeFirstOrThrow();
  });
  const token = present(row);
  return { created: { ...token, token: secret }, replay: { ...token, token: null } };
}

/** The user's tokens, newest first, without their secrets. */
export async function listPersonalTokens(db: Executor, userId: string): Promise<PersonalToken[]> {
  const rows = await db
    .selectFrom('personal_access_tokens')
    .select(['id', 'name', 'scopes', 'expires_at', 'created_at', 'last_used_at'])
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map(present);
}

/** Revokes one of the user's tokens; 404 for an unknown one, 403 for another user's (SPEC FR-005). */
export async function deletePersonalToken(db: Executor, userId: string, tokenId: string): Promise<{ id: string }> {
  const gone = await db.deleteFrom('personal_access_tokens').where('id', '=', tokenId).where('user_id', '=', userId).returning('id').executeTakeFirst();
  if (gone) return gone;
  const other = await db.selectFrom('personal_access_tokens').select('id').where('id', '=', tokenId).executeTakeFirst();
  throw other ? forbidden() : notFound('Personal access token');
}

/** A token is live while its row exists (deleting it, or its account, revokes it). */
export const personalTokenExists = async (db: Executor, tokenId: string): Promise<boolean> =>
  (await db.selectFrom('personal_access_tokens').select('id').where('id', '=', tokenId).executeTakeFirst()) !== undefined;

/** Which tokens are live, asked on every request made with one: a deleted token stops at once on every process. */
export const defineLivePersonalTokens = (cache: LiveKeyCache, db: Executor): LiveKeys =>
  cache.define(PERSONAL_TOKEN_REVOKED_CHANNEL, (tokenId) => personalTokenExists(db, tokenId));

/** The caller a personal access token stands for. */
export interface PersonalTokenCaller {
  tokenId: string;
  userId: string;
  email: string;
  tier: 'free' | 'pro';
  scopes: readonly TokenScope[];
}

interface Resolved {
  caller: PersonalTokenCaller;
  expiresAt: number | null;
  /** Until when this entry may be used without reading the row again. */
  until: number;
}

/**
 * Resolves personal access tokens to their callers. The row (user, scopes, expiry, the user's
 * email and tier) is remembered for `ttlMs` by the secret's hash; whether the token still exists is
 * asked of `live` on every request (from memory in the common case, forgotten at once on a
 * revocation anywhere), and the expiry is checked on every request.
 */
export class PersonalTokens {
  private readonly resolved = new Map<string, Resolved>();
  /** When this process last wrote each token's `last_used_at`. */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly db: Executor,
    readonly live: LiveKeys,
    private readonly opts: { ttlMs?: number; maxEntries?: number } = {},
  ) {}

  /** The token's caller; throws 401 `UNAUTHORIZED` for an unknown, revoked or expired token. */
  async verify(token: string, now = Date.now()): Promise<PersonalTokenCaller> {
    if (!isPersonalToken(token) || token.length > 100) throw unauthorized('Invalid personal access token');
    const hash = hashPersonalToken(token);
    let entry = this.resolved.get(hash);
    if (!entry || entry.until <= now) {
      const row = await this.db
        .selectFrom('personal_access_tokens as t')
        .innerJoin('users as u', 'u.id', 't.user_id')
        .select(['t.id', 't.user_id', 't.scopes', 't.expires_at', 't.last_used_at', 'u.email', 'u.tier'])
        .where('t.token_hash', '=', hash)
        .executeTakeFirst();
      if (!row) {
        this.resolved.delete(hash);
        throw unauthorized('Invalid personal access token');
      }
      entry = {
        caller: { tokenId: row.id, userId: row.user_id, email: row.email, tier: row.tier as 'free' | 'pro', scopes: row.scopes as TokenScope[] },
        expiresAt: row.expires_at?.getTime() ?? null,
        until: now + (this.opts.ttlMs ?? 30_000),
      };
      const max = this.opts.maxEntries ?? 10_000;
      if (this.resolved.size >= max) this.resolved.delete(this.resolved.keys().next().value!);
      this.resolved.set(hash, entry);
    }
    if (entry.expiresAt !== null && entry.expiresAt <= now) throw unauthorized('The personal access token has expired');
    if (!(await this.live.isLive(entry.caller.tokenId))) {
      this.resolved.delete(hash);
      throw unauthorized('The personal access token was revoked');
    }
    return { ...entry.caller };
  }

  /**
   * Notes a request the token made in `last_used_at`, at most once a minute (per process). Called
   * for answered requests only: a refused one changes nothing.
   */
  async touch(tokenId: string, now = new Date()): Promise<void> {
    const last = this.touched.get(tokenId);
    if (last !== undefined && now.getTime() - last < TOUCH_INTERVAL_MS) return;
    if (this.touched.size >= (this.opts.maxEntries ?? 10_000)) this.touched.delete(this.touched.keys().next().value!);
    this.touched.set(tokenId, now.getTime());
    await this.db
      .updateTable('personal_access_tokens')
      .set({ last_used_at: now })
      .where('id', '=', tokenId)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', new Date(now.getTime() - TOUCH_INTERVAL_MS))]))
      .execute();
  }

  /** Forgets a token this process revoked (the others hear of it from the database). */
  forget(tokenId: string): void {
    this.live.forget(tokenId);
    for (const [hash, e] of this.resolved) if (e.caller.tokenId === tokenId) this.resolved.delete(hash);
  }
}
