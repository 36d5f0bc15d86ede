import type { components } from '../../../codegen/api.js';
import type { AiUseCaseDeps } from './ports.js';
import { archived, limitExceeded } from '../../core/errors.js';
import { assertCanAfford } from '../credits/ledger.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { assertProviderConfigured } from '../provider-failures.js';
import type { AiCaller } from './chat.js';
import { confirmAiRequest, paidAiRequest } from './charge.js';
import { contractSchema, validationSummary } from './contract-schemas.js';
import { invalidAnswer } from './suggested-actions.js';
import { ownTaskForPrompt } from './task-context.js';
import { assertTaskQuota } from './task-counters.js';

export type GeneratedSubtasks = components['schemas']['GeneratedSubtasks'];

const ANSWER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['subtasks'],
  properties: {
    subtasks: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['title'], properties: { title: { type: 'string' } } } },
  },
};

/**
 * Suggests subtasks that break a task down — at most as many as the task still has room for under
 * the user's subtask limit. Nothing is created (FR-034). 1 credit, counted per task and session.
 */
export async function generateSubtaskSuggestions(deps: AiUseCaseDeps, caller: AiCaller, taskId: string): Promise<GeneratedSubtasks> {
  const { db, config } = deps;
  const userId = caller.actor.userId;
  const task = await ownTaskForPrompt(db, userId, taskId);
  if (task.archived) throw archived('This task is archived');
  const limits = await effectiveLimits(db, userId);
  const room = limits.maxSubtasksPerTask - task.subtasks.length;
  if (room <= 0) throw limitExceeded(`This task already has ${task.subtasks.length} subtasks, the limit of your tier`, limits.maxSubtasksPerTask);
  await assertTaskQuota(db, { userId, sessionId: caller.sessionId, taskId });
  const credits = config.AI_CREDIT_SUBTASK;
  await assertCanAfford(db, { userId, amount: credits });

  assertProviderConfigured(deps.ai);
  const requestId = caller.actor.requestId ?? 'none';
  const charge = { actor: caller.actor, sessionId: caller.sessionId, taskId, credits, description: 'AI subtask suggestions', operationRef: `ai_subtasks:${requestId}` };
  // Reserved before the provider is asked; refunded when it fails or suggests nothing usable.
  return paidAiRequest(deps, { charge, refundDescription: 'Refund: AI subtask suggestions not completed' }, async (reservation) => {
    const existing = task.subtasks.length ? `\nIt already has these subtasks (do not repeat them):\n${task.subtasks.map((s) => `- ${s.title}`).join('\n')}` : '';
    const answer = await deps.ai.complete({
      messages: [
        { role: 'system', content: `Break the user's task into at most ${room} concrete subtasks, in the order they should be done. Each title is short (at most 200 characters).` },
        { role: 'user', content: `Task: ${task.title}${task.description ? `\nDescription: ${task.description}` : ''}${existing}` },
      ],
      jsonSchema: { name: 'subtask_suggestions', schema: ANSWER_SCHEMA },
    });

    let raw: any;
    try {
      raw = JSON.parse(answer.content);
    } catch {
      throw invalidAnswer(deps.log, 'subtask suggestions are not JSON');
    }
    if (!Array.isArray(raw?.subtasks)) throw invalidAnswer(deps.log, 'subtask suggestions have no list');
    const seen = new Set(task.subtasks.map((s) => s.title.toLowerCase()));
    const suggested: { title: string }[] = [];
    for (const s of raw.subtasks) {
      const title = typeof s?.title === 'string' ? s.title.trim() : '';
      if (!title || seen.has(title.toLowerCase())) continue;
      seen.add(title.toLowerCase());
      suggested.push({ title: title.slice(0, 200) });
    }
    const capped = suggested.slice(0, room);
    const validate = contractSchema(deps.contract, 'SuggestedSubtask');
    const invalid = capped.find((s) => !validate(s));
    if (invalid) throw invalidAnswer(deps.log, `subtask suggestion: ${validationSummary(validate)}`);
    // An answer with nothing usable is not a result to pay for.
    if (capped.length === 0) throw invalidAnswer(deps.log, 'no subtask suggested');

    const { balanceAfter } = await confirmAiRequest(db, { charge: { ...charge, activity: { entityId: taskId, action: 'ai_subtasks_suggested', extra: { suggested: capped.length } } }, reservation });
    return { suggested_subtasks: capped, credits_used: credits, credits_remaining: balanceAfter, ai_request_warning: reservation.warning };
  });
}
