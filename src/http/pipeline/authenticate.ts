import type { IncomingHttpHeaders } from 'node:http';
import type { AppDeps } from '../../deps.js';
import { verifyAccessToken, type AuthContext } from '../../domain/auth/access-tokens.js';
import { peekEventTicket, TICKET_SPENT as TICKET_REFUSED } from '../../domain/live-updates/tickets.js';
import { accountGone, sessionEnded, unauthorized } from '../errors.js';

/** What the bearer check reads: the signing keys and token settings, which accounts and sessions are live, and (for tickets) the database. */
export type AuthenticateDeps = Pick<AppDeps, 'tokens' | 'liveAccounts' | 'liveSessions' | 'db'>;

const TICKET = /^pfevt_[A-Za-z0-9_-]{43}$/;

/**
 * Step 3: the bearer token's caller; throws the 401 (or the account or session check's database
 * error, a 5xx). An operation that also takes a ticket (`ticket`, GET /events) gets its caller from
 * an unspent, unexpired ticket when no Authorization header is sent; the handler spends it.
 */
export async function authenticate(headers: IncomingHttpHeaders, deps: AuthenticateDeps, ticket?: unknown): Promise<AuthContext> {
  const header = headers.authorization;
  if (!header && typeof ticket === 'string') return authenticateTicket(ticket, deps);
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

async function authenticateTicket(ticket: string, deps: AuthenticateDeps): Promise<AuthContext> {
  const holder = TICKET.test(ticket) ? await peekEventTicket(deps.db, ticket) : undefined;
  if (!holder) throw unauthorized(TICKET_REFUSED);
  if (!(await deps.liveAccounts.isLive(holder.userId))) throw accountGone();
  if (!(await deps.liveSessions.isLive(holder.sessionId))) throw unauthorized(TICKET_REFUSED);
  return { userId: holder.userId, email: holder.email, tier: holder.tier, sessionId: holder.sessionId, tokenId: holder.sessionId, eventTicket: ticket };
}
