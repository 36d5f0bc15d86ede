import type { IncomingHttpHeaders } from 'node:http';
import type { OperationInfo } from '../../core/contract.js';
import type { AppDeps } from '../../deps.js';
import { verifyAccessToken, type AuthContext } from '../../domain/auth/access-tokens.js';
import { isPersonalToken } from '../../domain/auth/personal-tokens.js';
import { accountGone, insufficientScope, sessionEnded, tokenNotAllowed, unauthorized } from '../errors.js';

/** What the bearer check reads: the signing keys and token settings, and which accounts, sessions and personal tokens are live. */
export type AuthenticateDeps = Pick<AppDeps, 'tokens' | 'liveAccounts' | 'liveSessions' | 'personalTokens'>;

/** What the operation accepts, from its `security` in the contract (OperationInfo). */
export type Accepts = Pick<OperationInfo, 'tokenScopes' | 'tokenOnly'>;

/**
 * Step 3: the bearer credential's caller — an access token (JWT), or a personal access token
 * (`pfpat_…`) limited to the scopes the operation names for it. Throws the 401 for a missing,
 * invalid, expired or revoked credential, the 403 for a personal token the operation does not
 * accept (TOKEN_NOT_ALLOWED) or that lacks one of its scopes (INSUFFICIENT_SCOPE), or the account,
 * session or token check's database error (a 5xx).
 */
export async function authenticate(headers: IncomingHttpHeaders, deps: AuthenticateDeps, accepts: Accepts = { tokenScopes: null, tokenOnly: false }): Promise<AuthContext> {
  const header = headers.authorization;
  if (!header) throw unauthorized();
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized('Authorization must be "Bearer <access token>"');
  const bearer = m[1]!;
  if (isPersonalToken(bearer)) {
    const token = await deps.personalTokens.verify(bearer);
    if (!(await deps.liveAccounts.isLive(token.userId))) throw accountGone();
    if (accepts.tokenScopes === null) throw tokenNotAllowed();
    const missing = accepts.tokenScopes.filter((s) => !token.scopes.includes(s as never));
    if (missing.length) throw insufficientScope(accepts.tokenScopes, missing);
    return { userId: token.userId, email: token.email, tier: token.tier, sessionId: token.tokenId, tokenId: token.tokenId, personalToken: { id: token.tokenId, scopes: token.scopes } };
  }
  if (accepts.tokenOnly) throw unauthorized('This operation takes a personal access token (pfpat_…)');
  const auth = verifyAccessToken(deps.tokens.keys, deps.tokens.access, bearer);
  // Access tokens are stateless for 15 minutes; one whose account was deleted or whose session
  // ended must stop at once. Both answers come from memory in the common case (live-keys.ts).
  if (!(await deps.liveAccounts.isLive(auth.userId))) throw accountGone();
  if (!(await deps.liveSessions.isLive(auth.sessionId))) throw sessionEnded();
  return auth;
}
