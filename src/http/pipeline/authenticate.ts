import type { IncomingHttpHeaders } from 'node:http';
import type { AppDeps } from '../../deps.js';
import { verifyAccessToken, type AuthContext } from '../../domain/auth/access-tokens.js';
import { accountGone, sessionEnded, unauthorized } from '../errors.js';

/** What the bearer check reads: the signing keys and token settings, and which accounts and sessions are live. */
export type AuthenticateDeps = Pick<AppDeps, 'tokens' | 'liveAccounts' | 'liveSessions'>;

/** Step 3: the bearer token's caller; throws the 401 (or the account or session check's database error, a 5xx). */
export async function authenticate(headers: IncomingHttpHeaders, deps: AuthenticateDeps): Promise<AuthContext> {
  const header = headers.authorization;
  if (!header) throw unauthorized();
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized('Authorization must be "Bearer <access token>"');
  const auth = verifyAccessToken(deps.tokens.keys, deps.tokens.access, m[1]!);
  // Access tokens are stateless for 15 minutes; one whose account was deleted or whose session
  // ended must stop at once. Both answers come from memory in the common case (live-keys.ts).
  if (!(await deps.liveAccounts.isLive(auth.userId))) throw accountGone();
  if (!(await deps.liveSessions.isLive(auth.sessionId))) throw sessionEnded();
  return auth;
}
