import type { Database, Executor } from '../../../db/index.js';
import type { Actor } from '../actor.js';
import { recordActivity } from '../activity/record-activity.js';
import { consumeCredits } from '../credits/ledger.js';
import { countTaskRequest } from './task-counters.js';

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
    await recordActivity(trx, {
      userId: c.actor.userId,
      entityType: 'ai_chat',
      entityId: c.activity.entityId,
      action: c.activity.action,
      source: c.actor.source,
      requestId: c.actor.requestId,
      extra: { credits_used: c.credits, ...(c.taskId ? { task_id: c.taskId, task_request_count: counted?.count } : {}), ...c.activity.extra },
    });
    return { balanceAfter, warning: counted?.warning ?? false, outcome };
  });
}
