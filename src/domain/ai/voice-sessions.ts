import { sql } from 'kysely';
import type { Database } from '../../../db/index.js';
import type { VoiceEndReason } from '../../../db/schema/index.js';
import { recordActivity } from '../activity/record-activity.js';
import { creditBalance, refundCredits, reserveCredits } from '../credits/ledger.js';
import { lockFor } from '../locks.js';

// The money side of a live transcription (src/ws/voice.ts relays the audio). Each started minute is
// paid when it starts, under the user's credits lock — the first one together with the session row,
// before `connected` — so parallel work can never spend the same credits, and a server that stops
// without ending a session has charged exactly the minutes it relayed. Every transaction here takes
// the credits lock before touching a session row.

export const VOICE_SESSION_ACTIVE_MESSAGE = 'You already have a live transcription session open; end it before starting another';

/** The user already has a session running (a WebSocket `error`, never an HTTP answer). */
export class VoiceSessionActive extends Error {
  readonly code = 'VOICE_SESSION_ACTIVE';
  constructor() {
    super(VOICE_SESSION_ACTIVE_MESSAGE);
  }
}

/**
 * A session still 'active' this long after it started was left by a process that stopped without
 * ending it (the relay itself ends every session within twice the maximum duration plus a flush),
 * so it no longer blocks its user's next session: it is closed as the hourly cleanup job closes
 * such sessions (failed, no end reason; its minutes were charged as they started).
 */
const staleAfterSeconds = (maxDurationSeconds: number) => 2 * maxDurationSeconds + 60;

const isStale = (maxDurationSeconds: number) => sql<boolean>`started_at < now() - make_interval(secs => ${staleAfterSeconds(maxDurationSeconds)})`;

export interface VoiceCharge {
  userId: string;
  /** Credits per started minute. */
  perMinute: number;
  maxDurationSeconds: number;
}

/** Whether the user has a session running (a cheap check before Deepgram is opened; openVoiceSession decides). */
export async function hasActiveVoiceSession(db: Database, c: VoiceCharge): Promise<boolean> {
  const row = await db
    .selectFrom('voice_sessions')
    .select('id')
    .where('user_id', '=', c.userId)
    .where('status', '=', 'active')
    .where(sql<boolean>`not (${isStale(c.maxDurationSeconds)})`)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Starts a session: writes its row and pays its first minute in one transaction. Throws 402
 * INSUFFICIENT_CREDITS, or VoiceSessionActive when the user has one running (the unique index
 * voice_sessions_one_active_key decides between concurrent starts); nothing is written then.
 */
export async function openVoiceSession(db: Database, c: VoiceCharge): Promise<{ sessionId: string; minuteEntryId: string }> {
  try {
    return await db.transaction().execute(async (trx) => {
      await lockFor(trx, 'credits', c.userId);
      const now = new Date();
      await trx
        .updateTable('voice_sessions')
        .set({ status: 'failed', ended_at: now, updated_at: now })
        .where('user_id', '=', c.userId)
        .where('status', '=', 'active')
        .where(isStale(c.maxDurationSeconds))
        .execute();
      const row = await trx.insertInto('voice_sessions').values({ user_id: c.userId, started_at: now, credits_used: c.perMinute }).returning('id').executeTakeFirstOrThrow();
      const { entryId } = await reserveCredits(trx, { userId: c.userId, amount: c.perMinute, description: 'Live transcription', operationRef: `voice_session:${row.id}`, category: 'ai' });
      return { sessionId: row.id, minuteEntryId: entryId };
    });
  } catch (err) {
    if ((err as { code?: string; constraint?: string }).code === '23505' && (err as { constraint?: string }).constraint === 'voice_sessions_one_active_key') throw new VoiceSessionActive();
    throw err;
  }
}

/** Pays the next started minute of a running session (402 when the balance cannot). Returns its ledger entry. */
export async function payVoiceMinute(db: Database, c: VoiceCharge, sessionId: string): Promise<string> {
  return db.transaction().execute(async (trx) => {
    const { entryId } = await reserveCredits(trx, { userId: c.userId, amount: c.perMinute, description: 'Live transcription', operationRef: `voice_session:${sessionId}`, category: 'ai' });
    await trx
      .updateTable('voice_sessions')
      .set({ credits_used: sql`credits_used + ${c.perMinute}`, updated_at: new Date() })
      .where('id', '=', sessionId)
      .execute();
    return entryId;
  });
}

export interface VoiceSettlement {
  sessionId: string;
  reason: VoiceEndReason;
  /** The audio relayed, as measured (at most the maximum duration). */
  seconds: number;
  transcript: string;
  /** The ledger entries of the minutes paid, in order. */
  paidMinutes: string[];
  requestId: string;
}

/**
 * Ends a session: charges nothing more; returns the minutes paid but never started (only the first
 * one, paid before any audio, of a session that relayed none); records the session and the activity.
 */
export async function settleVoiceSession(db: Database, c: VoiceCharge, s: VoiceSettlement): Promise<{ creditsUsed: number; remaining: number }> {
  return db.transaction().execute(async (trx) => {
    await lockFor(trx, 'credits', c.userId);
    const started = Math.ceil(s.seconds / 60);
    let refunded = 0;
    for (const entryId of s.paidMinutes.slice(started)) {
      refunded += (await refundCredits(trx, { userId: c.userId, entryId, description: 'Refund: live transcription without audio' })).refunded;
    }
    const creditsUsed = s.paidMinutes.length * c.perMinute - refunded;
    const now = new Date();
    await trx
      .updateTable('voice_sessions')
      .set({
        status: s.reason === 'provider_failed' ? 'failed' : 'completed',
        end_reason: s.reason,
        transcript: s.transcript,
        duration_seconds: s.seconds,
        credits_used: creditsUsed,
        ended_at: now,
        updated_at: now,
      })
      .where('id', '=', s.sessionId)
      .execute();
    await recordActivity(trx, {
      userId: c.userId,
      entityType: 'ai_chat',
      entityId: s.sessionId,
      action: 'voice_transcription',
      source: 'user',
      requestId: s.requestId,
      extra: { credits_used: creditsUsed, duration_seconds: s.seconds, end_reason: s.reason },
    });
    return { creditsUsed, remaining: (await creditBalance(trx, c.userId)).total };
  });
}
