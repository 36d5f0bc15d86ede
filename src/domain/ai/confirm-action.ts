import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import { conflict } from '../../core/errors.js';
import type { Actor } from '../actor.js';
import { recordActivity } from '../activity/record-activity.js';
import { completeTask, createSubtasks, createTask, updateTask, type Task } from '../tasks/index.js';
import { ownedTask } from '../tasks/queries.js';

export type ConfirmActionRequest = components['schemas']['ConfirmActionRequest'];
type ConfirmActionResult = components['schemas']['ConfirmActionResult'];
type AchievementUnlock = components['schemas']['AchievementUnlock'];

export interface ConfirmedAction {
  result: ConfirmActionResult;
  unlockedAchievements: AchievementUnlock[];
}

/**
 * FR-034 / AD-004: carries out an AI-suggested action the user confirmed, through the same task use
 * cases as the user's own requests (limits, validation, ownership, optimistic locking), as the
 * `ai` source, and records the confirmation in the activity log — all in one transaction.
 */
export async function confirmAiAction(db: Database, actor: Actor, request: ConfirmActionRequest): Promise<ConfirmedAction> {
  const ai: Actor = { ...actor, source: 'ai' };
  return db.transaction().execute(async (trx) => {
    const done = await carryOut(trx, ai, request);
    const task = done.task;
    await recordActivity(trx, {
      userId: ai.userId,
      entityType: 'ai_chat',
      entityId: task?.id ?? ('task_id' in request.action_data ? request.action_data.task_id : ai.userId),
      action: 'ai_action_confirmed',
      source: 'ai',
      requestId: ai.requestId,
      extra: { action_type: request.action_type, ...(done.subtasks.length ? { subtask_ids: done.subtasks.map((s) => s.id) } : {}) },
    });
    return {
      result: { action_type: request.action_type, task, subtasks: done.subtasks },
      unlockedAchievements: done.unlockedAchievements,
    };
  });
}

async function carryOut(trx: Executor, ai: Actor, request: ConfirmActionRequest): Promise<{ task: Task | null; subtasks: ConfirmActionResult['subtasks']; unlockedAchievements: AchievementUnlock[] }> {
  switch (request.action_type) {
    case 'create_task': {
      const r = await createTask(trx, ai, request.action_data);
      return { task: r.task, subtasks: [], unlockedAchievements: r.unlockedAchievements };
    }
    case 'update_task': {
      const { task_id, ...changes } = request.action_data;
      const r = await updateTask(trx, { actor: ai, taskId: task_id, input: changes });
      return { task: r.task, subtasks: [], unlockedAchievements: r.unlockedAchievements };
    }
    case 'complete_task': {
      // Confirming a completion twice is a mistake to report, not a no-op (the suggestion is stale).
      const current = await ownedTask(trx, { userId: ai.userId, taskId: request.action_data.task_id, opts: { forUpdate: true } });
      if (current.completed) throw conflict('The task is already completed');
      const r = await completeTask(trx, ai, current.id);
      return { task: r.task, subtasks: [], unlockedAchievements: r.unlockedAchievements };
    }
    case 'create_subtasks': {
      const { task_id, subtasks } = request.action_data;
      const r = await createSubtasks(trx, { actor: ai, taskId: task_id, titles: subtasks.map((s) => s.title), source: 'ai' });
      return { task: null, subtasks: r.subtasks, unlockedAchievements: r.unlockedAchievements };
    }
  }
}
