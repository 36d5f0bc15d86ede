import type { Database, Executor } from '../../../db/index.js';
import type { Actor } from '../actor.js';
import { recordActivity } from '../activity/record-activity.js';
import { consumeCredits, refundCredits, reserveCredits } from '../credits/ledger.js';
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

export interface ChargeResult<T> {
  balanceAfter: number;
  /** The per-task warning (FR-035); false without a task. */
  warning: boolean;
  /** What `alongside` returned. */
  outcome: T;
}

/**
 * Pays for an AI result that was produced: counts the per-task request, charges the credits and
 * records the activity in one transaction, together with whatever `alongside` writes (the result
 * itself, when it is stored). Throws 402/429 — and nothing is charged — when concurrent requests
 * used up the balance or the task's requests first.
 */
export async function chargeAiRequest<T = undefined>(db: Database, c: AiCharge, alongside?: (trx: Executor) => Promise<T>): Promise<ChargeResult<T>> {
  return db.transaction().execute(async (trx) => {
    const counted = c.taskId ? await countTaskRequest(trx, { userId: c.actor.userId, sessionId: c.sessionId, taskId: c.taskId }) : undefined;
    const { balanceAfter } = await consumeCredits(trx, { userId: c.actor.userId, amount: c.credits, description: c.description, operationRef: c.operationRef, category: 'ai' });
    const outcome = alongside ? await alongside(trx) : (undefined as T);
    await recordAiActivity(trx, c, counted?.count);
    return { balanceAfter, warning: counted?.warning ?? false, outcome };
  });
}

async function recordAiActivity(trx: Executor, c: AiCharge, taskRequestCount: number | undefined): Promise<void> {
  await recordActivity(trx, {
    userId: c.actor.userId,
    entityType: 'ai_chat',
    entityId: c.activity.entityId,
    action: c.activity.action,
    source: c.actor.source,
    requestId: c.actor.requestId,
    extra: { credits_used: c.credits, ...(c.taskId ? { task_id: c.taskId, task_request_count: taskRequestCount } : {}), ...c.activity.extra },
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
 * Pays for an AI result before it exists, for a result that is delivered as it is produced (a
 * stream): counts the per-task request and charges the credits in one transaction, under the same
 * locks as chargeAiRequest, so concurrent requests can never be given more answers than the balance
 * and the task's limit allow. Throws 402/429 with nothing charged. The caller then either confirms
 * it (confirmAiRequest, once the result is complete) or releases it (releaseAiRequest).
 */
export async function reserveAiRequest(db: Database, c: Omit<AiCharge, 'activity'>): Promise<AiReservation> {
  return db.transaction().execute(async (trx) => {
    const counted = c.taskId ? await countTaskRequest(trx, { userId: c.actor.userId, sessionId: c.sessionId, taskId: c.taskId }) : undefined;
    const { entryId, balanceAfter } = await reserveCredits(trx, { userId: c.actor.userId, amount: c.credits, description: c.description, operationRef: c.operationRef, category: 'ai' });
    return { entryId, balanceAfter, warning: counted?.warning ?? false, taskRequestCount: counted?.count };
  });
}

/** The reserved request produced its result: records it in the activity log. */
export async function confirmAiRequest(db: Database, c: AiCharge, reservation: AiReservation): Promise<void> {
  await db.transaction().execute((trx) => recordAiActivity(trx, c, reservation.taskRequestCount));
}

/**
 * The reserved request produced no result: refunds its credits (a grant entry `refund:<entry id>`)
 * and gives back its per-task slot, in one transaction — counter first, then credits, the order in
 * which the reservation took them. Call it at most once per reservation (the refund itself is
 * idempotent, the counter is not).
 */
export async function releaseAiRequest(db: Database, c: Omit<AiCharge, 'activity'>, reservation: AiReservation, description: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (c.taskId) await releaseTaskRequest(trx, { userId: c.actor.userId, sessionId: c.sessionId, taskId: c.taskId });
    await refundCredits(trx, { userId: c.actor.userId, entryId: reservation.entryId, description });
  });
}
