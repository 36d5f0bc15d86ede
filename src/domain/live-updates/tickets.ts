import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { iso } from '../time.js';

// One-use tickets for GET /events?ticket= (a browser's EventSource cannot send Authorization). The
// secret is shown once; only its SHA-256 is stored and a ticket is found by that hash, so no secret
// is compared byte by byte. Spending is one DELETE … RETURNING: of two processes redeeming the same
// ticket at once, exactly one gets the row.

export const TICKET_TTL_SECONDS = 60;
/** The 401's message for a ticket that is not (or no longer) good. */
export const TICKET_SPENT = 'The ticket is unknown, used or expired; get a new one from POST /events/ticket';
const PREFIX = 'pfevt_';
const hashTicket = (ticket: string): string => createHash('sha256').update(ticket).digest('hex');

/** Whom a ticket stands for: the caller of the request that asked for it. */
export interface TicketHolder {
  userId: string;
  sessionId: string;
  email: string;
  tier: 'free' | 'pro';
}

/** A new ticket for `holder`, valid TICKET_TTL_SECONDS by the database's clock. */
export async function issueEventTicket(db: Executor, holder: TicketHolder): Promise<{ ticket: string; expires_at: string }> {
  const ticket = `${PREFIX}${randomBytes(32).toString('base64url')}`;
  // Tickets nobody redeemed go an hour after they expired, a few at a time, with each new one.
  await sql`delete from event_tickets where token_hash in (
      select token_hash from event_tickets where expires_at < now() - interval '1 hour' limit 100)`.execute(db);
  const row = await db
    .insertInto('event_tickets')
    .values({
      token_hash: hashTicket(ticket),
      user_id: holder.userId,
      session_id: holder.sessionId,
      email: holder.email,
      tier: holder.tier,
      expires_at: sql<Date>`now() + make_interval(secs => ${TICKET_TTL_SECONDS})`,
    })
    .returning('expires_at')
    .executeTakeFirstOrThrow();
  return { ticket, expires_at: iso(row.expires_at) };
}

const holderOf = (row: { user_id: string; session_id: string; email: string; tier: string }): TicketHolder => ({
  userId: row.user_id,
  sessionId: row.session_id,
  email: row.email,
  tier: row.tier as TicketHolder['tier'],
});

/** Whom an unexpired, unspent ticket stands for, without spending it; undefined for any other. */
export async function peekEventTicket(db: Executor, ticket: string): Promise<TicketHolder | undefined> {
  const row = await db
    .selectFrom('event_tickets')
    .select(['user_id', 'session_id', 'email', 'tier'])
    .where('token_hash', '=', hashTicket(ticket))
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return row && holderOf(row);
}

/** Spends the ticket: true for the one caller that found it unexpired and unspent (an expired one goes too). */
export async function spendEventTicket(db: Executor, ticket: string): Promise<boolean> {
  const row = await db
    .deleteFrom('event_tickets')
    .where('token_hash', '=', hashTicket(ticket))
    .returning(sql<boolean>`expires_at > now()`.as('valid'))
    .executeTakeFirst();
  return row?.valid === true;
}
