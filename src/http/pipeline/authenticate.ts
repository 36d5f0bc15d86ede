import type { IncomingHttpHeaders } from 'node:http';
import type { OperationInfo } from '../../core/contract.js';
import type { AppDeps } from '../../deps.js';
import { verifyAccessToken, type AuthContext } from '../../domain/auth/access-tokens.js';
import { isPersonalToken } from '../../domain/auth/personal-tokens.js';
import { peekEventTicket, TICKET_SPENT as TICKET_REFUSED } from '../../domain/live-updates/tickets.js';
import { accountGone, insufficientScope, sessionEnded, tokenNotAllowed, unauthorized } from '../errors.js';

/** What the bearer check reads: the signing keys and token settings, which accounts, sessions and personal tokens are live, and (for tickets) the database. */
export type AuthenticateDeps = Pick<AppDeps, 'tokens' | 'liveAccounts' | 'liveSessions' | 'personalTokens' | 'db'>;

/**
 * What the operation accepts, from its `security` in the contract (OperationInfo), and the
 * `?ticket=` of an operation that also takes a one-use ticket (the `eventTicket` scheme: GET /events).
 */
export type Accepts = Pick<OperationInfo, 'tokenScopes' | 'tokenOnly'> & { ticket?: unknown };

const TICKET = /^pfevt_[A-Za-z0-9_-]{43}$/;

/**
 * Step 3: the bearer credential's caller — an access token (JWT), or a personal access token
 * (`pfpat_…`) limited to the scopes the operation names for it. Throws the 401 for a missing,
 * invalid, expired or revoked credential, the 403 for a personal token the operation does not
 * accept (TOKEN_NOT_ALLOWED) or that lacks one of its scopes (INSUFFICIENT_SCOPE), or the account,
 * session or token check's database error (a 5xx). An operation that also takes a ticket gets its
 * caller from an unspent, unexpired ticket when no Authorization header is sent; the handler spends it.
 */
export async function authenticate(headers: IncomingHttpHeaders, deps: AuthenticateDeps, accepts: Accepts = { tokenScopes: null, tokenOnly: false }): Promise<AuthContext> {
  const header = headers.authorization;
  if (!header && typeof accepts.ticket === 'string') return authenticateTicket(accepts.ticket, deps);
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

async function authenticateTicket(ticket: string, deps: AuthenticateDeps): Promise<AuthContext> {
  const holder = TICKET.test(ticket) ? await peekEventTicket(deps.db, ticket) : undefined;
  if (!holder) throw unauthorized(TICKET_REFUSED);
  if (!(await deps.liveAccounts.isLive(holder.userId))) throw accountGone();
  if (!(await deps.liveSessions.isLive(holder.sessionId))) throw unauthorized(TICKET_REFUSED);
  return { userId: holder.userId, email: holder.email, tier: holder.tier, sessionId: holder.sessionId, tokenId: holder.sessionId, eventTicket: ticket };
}
