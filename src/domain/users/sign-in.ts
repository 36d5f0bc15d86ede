import type { Database, Executor } from '../../../db/index.js';
import type { UserRow } from '../../../db/schema/index.js';
import { conflict } from '../../core/errors.js';
import type { GoogleIdentity } from '../../integrations/google.js';
import { recordActivity } from '../activity/record-activity.js';
import { grantCredits } from '../credits/ledger.js';
import { findUserByEmail, findUserByGoogleId, insertUserIfAbsent, updateUserRow } from './queries.js';

const DEV_PREFIX = 'dev:';
const nameFromEmail = (email: string) => (email.split('@')[0] || 'User').slice(0, 100);

export interface SignInContext {
  requestId: string;
  /** AI credits a new account starts with (KICKSTART_CREDITS, FR-037). */
  kickstartCredits: number;
}

/** Creates a user with everything a new account starts with, in the caller's transaction. */
async function createUser(trx: Executor, values: { googleId: string; email: string; name: string; avatarUrl: string | null }, ctx: SignInContext) {
  const user = await insertUserIfAbsent(trx, {
    google_id: values.googleId,
    email: values.email,
    name: values.name,
    avatar_url: values.avatarUrl,
  });
  if (!user) return undefined;
  await recordActivity(trx, { userId: user.id, entityType: 'user', entityId: user.id, action: 'user_created', source: 'system', requestId: ctx.requestId });
  await trx.insertInto('user_achievement_states').values({ user_id: user.id }).execute();
  if (ctx.kickstartCredits > 0) {
    await grantCredits(trx, {
      userId: user.id,
      kind: 'kickstart',
      amount: ctx.kickstartCredits,
      expiresAt: null,
      description: 'Kickstart credits',
      operationRef: `kickstart:${user.id}`,
    });
  }
  return user;
}

/**
 * Finds or creates the user of a verified Google identity. Google's `sub` is the account key; a
 * development account with the same email is linked on its first Google sign-in. A sign-in
 * refreshes the avatar and, unless the user renamed themselves, the name.
 */
export async function signInGoogleUser(db: Database, identity: GoogleIdentity, ctx: SignInContext): Promise<UserRow> {
  return db.transaction().execute(async (trx) => {
    const existing = await findUserByGoogleId(trx, identity.googleId);
    if (existing) {
      return updateUserRow(trx, existing.id, {
        avatar_url: identity.avatarUrl ?? existing.avatar_url,
        ...(identity.name && !existing.name_customized ? { name: identity.name } : {}),
      });
    }
    const byEmail = await findUserByEmail(trx, identity.email);
    if (byEmail) {
      if (!byEmail.google_id.startsWith(DEV_PREFIX)) throw conflict('This email is linked to another Google account');
      return updateUserRow(trx, byEmail.id, { google_id: identity.googleId, avatar_url: identity.avatarUrl ?? byEmail.avatar_url });
    }
    const created = await createUser(
      trx,
      { googleId: identity.googleId, email: identity.email, name: identity.name ?? nameFromEmail(identity.email), avatarUrl: identity.avatarUrl },
      ctx,
    );
    // A concurrent first sign-in of the same account won the insert: use its row.
    return created ?? (await findUserByGoogleId(trx, identity.googleId))!;
  });
}

/** Development sign-in by email alone (AUTH_DEV_LOGIN); never touches a Google account. */
export async function signInDevUser(db: Database, input: { email: string; name?: string }, ctx: SignInContext): Promise<UserRow> {
  const email = input.email.trim();
  return db.transaction().execute(async (trx) => {
    const existing = await findUserByEmail(trx, email);
    if (existing) {
      if (!existing.google_id.startsWith(DEV_PREFIX)) throw conflict('This email belongs to a Google account');
      return existing;
    }
    const googleId = `${DEV_PREFIX}${email.toLowerCase()}`;
    const created = await createUser(trx, { googleId, email, name: input.name?.trim() || nameFromEmail(email), avatarUrl: null }, ctx);
    return created ?? (await findUserByGoogleId(trx, googleId))!;
  });
}
