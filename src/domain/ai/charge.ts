import type { Database, Executor } from '../../../db/index.js';
import type { Logger } from '../../core/logging.js';
import type { Actor } from '../actor.js';
import { recordActivity } from '../activity/record-activity.js';
import { refundCredits, reserveCredits } from '../credits/ledger.js';
import { translateProviderFailure } from '../provider-failures.js';
import { countTaskRequest, releaseTaskRequest } from './task-counters.js';

export interface AiCharge {
  actor: Actor;
  /** The caller's session, for the per-task counter. */
  sessionId: string;
  /** Counted against the per-task limit when set. */
  taskId?: string;
  credits: number;
  description: string;
  operationRef: string;
  /** The activity entry of the request (entity_type ai_chat). */
  activity: { entityId: string; action: string; extra?: Record<string, unknown> };
}

async function recordAiActivity(trx: Executor, { charge: c, taskRequestCount, creditsUsed = c.credits }: { charge: AiCharge; taskRequestCount: number | undefined; creditsUsed?: number }): Promise<void> {
  await recordActivity(trx, {
    userId: c.actor.userId,
    entityType: 'ai_chat',
    entityId: c.activity.entityId,
    action: c.activity.action,
    source: c.actor.source,
    requestId: c.actor.requestId,
    extra: { credits_used: creditsUsed, ...(c.taskId ? { task_id: c.taskId, task_request_count: taskRequestCount } : {}), ...c.activity.extra },
  });
}

export interface AiReservation {
  /** The ledger entry of the charge, returned by releaseAiRequest. */
  entryId: string;
  balanceAfter: number;
  /** The per-task warning (FR-035); false without a task. */
  warning: boolean;
  taskRequestCount?: number;
}

/**
 * Pays for an AI result before the provider is asked (money before work): counts the per-task
 * request and charges the credits in one short transaction that commits before the provider call,
 * so concurrent requests see it and can never be given more provider calls or answers than the
 * balance and the task's limit allow. Throws 402/429 with nothing charged (the provider is then
 * never asked). The caller then either settles it (confirmAiRequest, once the result is complete)
 * or releases it (releaseAiRequest); paidAiRequest does both around the work.
 */
export async function reserveAiRequest(db: Database, c: Omit<AiCharge, 'activity'>): Promise<AiReservation> {
  return db.transaction().execute(async (trx) => {
    const counted = c.taskId ? await countTaskRequest(trx, { userId: c.actor.userId, sessionId: c.sessionId, taskId: c.taskId }) : undefined;
    const { entryId, balanceAfter } = await reserveCredits(trx, { userId: c.actor.userId, amount: c.credits, description: c.description, operationRef: c.operationRef, category: 'ai' });
    return { entryId, balanceAfter, warning: counted?.warning ?? false, taskRequestCount: counted?.count };
  });
}

export interface Settlement<T> {
  /** What the request really cost, when less than it reserved (the rest is refunded). */
  creditsUsed?: number;
  /** The history's text for that refund. */
  unusedDescription?: string;
  /** Writes of the result itself, in the settling transaction. */
  alongside?: (trx: Executor) => Promise<T>;
}

/**
 * The reserved request produced its result: in one transaction, refunds what it reserved beyond
 * its real cost (`creditsUsed`), writes `alongside` and records the activity. Returns the balance
 * after it and what `alongside` returned.
 */
export async function confirmAiRequest<T = undefined>(db: Database, { charge: c, reservation, settlement: s = {} }: { charge: AiCharge; reservation: AiReservation; settlement?: Settlement<T> }): Promise<{ balanceAfter: number; outcome: T }> {
  return db.transaction().execute(async (trx) => {
    let balanceAfter = reservation.balanceAfter;
    const unused = s.creditsUsed === undefined ? 0 : c.credits - s.creditsUsed;
    if (unused < 0) throw new Error(`confirmAiRequest: used ${s.creditsUsed} credits of ${c.credits} reserved`);
    if (unused > 0) {
      balanceAfter = (await refundCredits(trx, { userId: c.actor.userId, entryId: reservation.entryId, amount: unused, description: s.unusedDescription ?? `Refund: ${c.description} cost less than reserved` })).balanceAfter;
    }
    const outcome = s.alongside ? await s.alongside(trx) : (undefined as T);
    await recordAiActivity(trx, { charge: c, taskRequestCount: reservation.taskRequestCount, creditsUsed: s.creditsUsed });
    return { balanceAfter, outcome };
  });
}

/**
 * The reserved request produced no result: refunds its credits (a grant entry `refund:<entry id>`)
 * and gives back its per-task slot, in one transaction — counter first, then credits, the order in
 * which the reservation took them. Call it at most once per reservation (the refund itself is
 * idempotent, the counter is not).
 */
export async function releaseAiRequest(db: Database, { charge: c, reservation, description }: { charge: Omit<AiCharge, 'activity'>; reservation: AiReservation; description: string }): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (c.taskId) await releaseTaskRequest(trx, { userId: c.actor.userId, sessionId: c.sessionId, taskId: c.taskId });
    await refundCredits(trx, { userId: c.actor.userId, entryId: reservation.entryId, description });
  });
}

/**
 * Reserves the request's credits, runs `work` (the provider call, the checks of its answer and the
 * settlement with confirmAiRequest) and refunds the reservation when `work` throws — the provider
 * failed, its answer was unusable, or the settlement could not be written — so a failure is never
 * charged. `refundDescription` is the history's text for that refund.
 */
export async function paidAiRequest<R>(
  deps: { db: Database; log: Logger },
  { charge: c, refundDescription }: { charge: Omit<AiCharge, 'activity'>; refundDescription: string },
  work: (reservation: AiReservation) => Promise<R>,
): Promise<R> {
  const reservation = await reserveAiRequest(deps.db, c);
  try {
    return await work(reservation);
  } catch (caught) {
    // A provider's failure leaves in the catalogue's terms (AI_/TRANSCRIPTION_SERVICE_UNAVAILABLE).
    const err = translateProviderFailure(caught);
    await releaseAiRequest(deps.db, { charge: c, reservation, description: refundDescription }).catch((refundErr: unknown) => {
      deps.log.error({ err: refundErr, request_id: c.actor.requestId, ledger_entry: reservation.entryId }, 'AI reservation could not be refunded');
    });
    throw err;
  }
}
