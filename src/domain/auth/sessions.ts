import { createHash, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import type { Database, Executor } from '../../../db/index.js';
import type { UserRow } from '../../../db/schema/index.js';
import { DomainError } from '../../core/errors.js';
import type { LiveKeys } from '../live-keys.js';
import { findUserById } from '../users/queries.js';
import { signAccessToken, type AccessTokenSettings } from './access-tokens.js';
import { sessionIsLive } from './live-sessions.js';
import type { SigningKeys } from './signing-keys.js';

export interface TokenIssuer {
  keys: SigningKeys;
  access: AccessTokenSettings;
  refreshTtlDays: number;
  /** A rotated refresh token presented again within this many seconds gets its successor again (RFC 9700 grace). */
  refreshReuseGraceSeconds: number;
}

export interface IssuedTokens {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
const newRefreshToken = () => `rt_${randomBytes(32).toString('base64url')}`;
// refresh_required (US1-AS4): this session cannot be refreshed, the client must sign in again.
const invalidRefreshToken = () => new DomainError('INVALID_REFRESH_TOKEN', 'Refresh token is invalid or expired', { extras: { refresh_required: true } });

/**
 * The refresh token that replaces a rotated one: an HMAC of the rotated token's hash under a key
 * derived from the signing key, so that every process computes the same successor and a second tab
 * refreshing within the grace gets the very token the first one got, never a token of its own (a
 * replayed token cannot mint further tokens, or sessions, within the grace).
 */
const successorKeys = new WeakMap<SigningKeys, Buffer>();
function successorOf(keys: SigningKeys, tokenHash: string): string {
  let key = successorKeys.get(keys);
  if (!key) {
    const secret = keys.privateKey.export({ type: 'pkcs8', format: 'der' });
    successorKeys.set(keys, (key = Buffer.from(hkdfSync('sha256', secret, '', 'perpetua-flow refresh-token successor', 32))));
  }
  return `rt_${createHmac('sha256', key).update(tokenHash).digest('base64url')}`;
}

async function issue(trx: Executor, { issuer, user, familyId, refreshToken = newRefreshToken() }: { issuer: TokenIssuer; user: UserRow; familyId: string; refreshToken?: string }): Promise<IssuedTokens> {
  await trx
    .insertInto('refresh_tokens')
    .values({
      user_id: user.id,
      family_id: familyId,
      token_hash: hashToken(refreshToken),
      expires_at: new Date(Date.now() + issuer.refreshTtlDays * 86_400_000),
    })
    // Within the grace the successor exists already (unless another process signs with another key).
    .onConflict((oc) => oc.column('token_hash').doNothing())
    .execute();
  return {
    access_token: signAccessToken(issuer.keys, issuer.access, { sub: user.id, email: user.email, tier: user.tier, sid: familyId }),
    refresh_token: refreshToken,
    token_type: 'Bearer',
    expires_in: issuer.access.expiresInSeconds,
  };
}

/**
 * A new session for a user who just signed in; their earlier sessions end (one active session per
 * user), and with them their access tokens (`liveSessions` forgets them here at once; the other
 * processes hear of it at commit).
 */
export async function startSession(db: Database, { issuer, user, liveSessions }: { issuer: TokenIssuer; user: UserRow; liveSessions: LiveKeys }): Promise<IssuedTokens> {
  const { tokens, ended } = await db.transaction().execute(async (trx) => {
    const ended = await trx
      .updateTable('refresh_tokens')
      .set({ revoked_at: new Date(), revoked_reason: 'new_sign_in', updated_at: new Date() })
      .where('user_id', '=', user.id)
      .where('revoked_at', 'is', null)
      .returning('family_id')
      .execute();
    return { tokens: await issue(trx, { issuer, user, familyId: randomUUID() }), ended };
  });
  for (const { family_id } of ended) liveSessions.forget(family_id);
  return tokens;
}

/**
 * Rotates a refresh token. The row is locked, so concurrent refreshes with one token run one after
 * the other. A token rotated less than the grace ago (a second tab refreshing at the same moment)
 * gets the same successor as the first, with an access token of the same session, as long as the
 * session is live. A token rotated before that is a replay (RFC 9700 §4.14.2): the whole session is
 * revoked, which also logs out whoever holds the newer token, and its access tokens stop working.
 */
export async function rotateSession(db: Database, { issuer, refreshToken, liveSessions }: { issuer: TokenIssuer; refreshToken: string; liveSessions: LiveKeys }): Promise<IssuedTokens> {
  type Outcome = { kind: 'invalid'; ended?: string } | { kind: 'rotated'; tokens: IssuedTokens };
  const outcome = await db.transaction().execute(async (trx): Promise<Outcome> => {
    const row = await trx
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', hashToken(refreshToken))
      .forUpdate()
      .executeTakeFirst();
    if (!row) return { kind: 'invalid' };
    const now = new Date();
    if (row.revoked_at) {
      if (row.revoked_reason !== 'rotated') return { kind: 'invalid' };
      if (now.getTime() - row.revoked_at.getTime() < issuer.refreshReuseGraceSeconds * 1000) {
        // The grace never reopens a session that has ended since.
        const user = (await sessionIsLive(trx, row.family_id)) ? await findUserById(trx, row.user_id) : undefined;
        if (!user) return { kind: 'invalid' };
        return { kind: 'rotated', tokens: await issue(trx, { issuer, user, familyId: row.family_id, refreshToken: successorOf(issuer.keys, row.token_hash) }) };
      }
      await trx
        .updateTable('refresh_tokens')
        .set({ revoked_at: now, revoked_reason: 'reuse_detected', updated_at: now })
        .where('family_id', '=', row.family_id)
        .where('revoked_at', 'is', null)
        .execute();
      return { kind: 'invalid', ended: row.family_id };
    }
    if (row.expires_at <= now) return { kind: 'invalid' };
    const user = await findUserById(trx, row.user_id);
    if (!user) return { kind: 'invalid' };
    await trx
      .updateTable('refresh_tokens')
      .set({ revoked_at: now, revoked_reason: 'rotated', updated_at: now })
      .where('id', '=', row.id)
      .execute();
    return { kind: 'rotated', tokens: await issue(trx, { issuer, user, familyId: row.family_id, refreshToken: successorOf(issuer.keys, row.token_hash) }) };
  });
  // Thrown after the commit, so a detected reuse stays revoked.
  if (outcome.kind === 'invalid') {
    if (outcome.ended) liveSessions.forget(outcome.ended);
    throw invalidRefreshToken();
  }
  return outcome.tokens;
}

/** Ends the session a refresh token belongs to, access tokens included. Unknown tokens are ignored (no probing). */
export async function endSession(db: Database, refreshToken: string, liveSessions: LiveKeys): Promise<void> {
  const row = await db.selectFrom('refresh_tokens').select(['family_id']).where('token_hash', '=', hashToken(refreshToken)).executeTakeFirst();
  if (!row) return;
  const now = new Date();
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now, revoked_reason: 'logout', updated_at: now })
    .where('family_id', '=', row.family_id)
    .where('revoked_at', 'is', null)
    .execute();
  liveSessions.forget(row.family_id);
}
