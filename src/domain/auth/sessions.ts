import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Database, Executor } from '../../../db/index.js';
import type { UserRow } from '../../../db/schema/index.js';
import { AppError } from '../../http/errors.js';
import { findUserById } from '../users/queries.js';
import { signAccessToken, type AccessTokenSettings } from './access-tokens.js';
import type { SigningKeys } from './signing-keys.js';

export interface TokenIssuer {
  keys: SigningKeys;
  access: AccessTokenSettings;
  refreshTtlDays: number;
}

export interface IssuedTokens {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
const newRefreshToken = () => `rt_${randomBytes(32).toString('base64url')}`;
const invalidRefreshToken = () => new AppError(401, 'INVALID_REFRESH_TOKEN', 'Refresh token is invalid or expired');

async function issue(trx: Executor, issuer: TokenIssuer, user: UserRow, familyId: string): Promise<IssuedTokens> {
  const refreshToken = newRefreshToken();
  await trx
    .insertInto('refresh_tokens')
    .values({
      user_id: user.id,
      family_id: familyId,
      token_hash: hashToken(refreshToken),
      expires_at: new Date(Date.now() + issuer.refreshTtlDays * 86_400_000),
    })
    .execute();
  return {
    access_token: signAccessToken(issuer.keys, issuer.access, { sub: user.id, email: user.email, tier: user.tier, sid: familyId }),
    refresh_token: refreshToken,
    token_type: 'Bearer',
    expires_in: issuer.access.expiresInSeconds,
  };
}

/** A new session for a user who just signed in; their earlier sessions end (one active session per user). */
export async function startSession(db: Database, issuer: TokenIssuer, user: UserRow): Promise<IssuedTokens> {
  return db.transaction().execute(async (trx) => {
    await trx
      .updateTable('refresh_tokens')
      .set({ revoked_at: new Date(), revoked_reason: 'new_sign_in', updated_at: new Date() })
      .where('user_id', '=', user.id)
      .where('revoked_at', 'is', null)
      .execute();
    return issue(trx, issuer, user, randomUUID());
  });
}

/**
 * Rotates a refresh token. The row is locked, so two concurrent refreshes with one token cannot both
 * succeed; a token that was already rotated is a replay (RFC 9700 §4.14.2): the whole session is
 * revoked, which also logs out whoever holds the newer token.
 */
export async function rotateSession(db: Database, issuer: TokenIssuer, refreshToken: string): Promise<IssuedTokens> {
  const outcome = await db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', hashToken(refreshToken))
      .forUpdate()
      .executeTakeFirst();
    if (!row) return { kind: 'invalid' as const };
    const now = new Date();
    if (row.revoked_at) {
      if (row.revoked_reason === 'rotated') {
        await trx
          .updateTable('refresh_tokens')
          .set({ revoked_at: now, revoked_reason: 'reuse_detected', updated_at: now })
          .where('family_id', '=', row.family_id)
          .where('revoked_at', 'is', null)
          .execute();
      }
      return { kind: 'invalid' as const };
    }
    if (row.expires_at <= now) return { kind: 'invalid' as const };
    const user = await findUserById(trx, row.user_id);
    if (!user) return { kind: 'invalid' as const };
    await trx
      .updateTable('refresh_tokens')
      .set({ revoked_at: now, revoked_reason: 'rotated', updated_at: now })
      .where('id', '=', row.id)
      .execute();
    return { kind: 'rotated' as const, tokens: await issue(trx, issuer, user, row.family_id) };
  });
  // Thrown after the commit, so a detected reuse stays revoked.
  if (outcome.kind === 'invalid') throw invalidRefreshToken();
  return outcome.tokens;
}

/** Ends the session a refresh token belongs to. Unknown tokens are ignored (no probing). */
export async function endSession(db: Database, refreshToken: string): Promise<void> {
  const row = await db.selectFrom('refresh_tokens').select(['family_id']).where('token_hash', '=', hashToken(refreshToken)).executeTakeFirst();
  if (!row) return;
  const now = new Date();
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now, revoked_reason: 'logout', updated_at: now })
    .where('family_id', '=', row.family_id)
    .where('revoked_at', 'is', null)
    .execute();
}
