import type { components } from '../../../codegen/api.js';
import type { AiUseCaseDeps } from './ports.js';
import { invalidField } from '../../core/errors.js';
import type { AiMessage, AiRequest } from '../../integrations/openai.js';
import type { Actor } from '../actor.js';
import { assertProviderConfigured, translatedStream, translateProviderFailure } from '../provider-failures.js';
import { isoOrNull } from '../time.js';
import { confirmAiRequest, paidAiRequest, releaseAiRequest, reserveAiRequest, type AiCharge } from './charge.js';
import { toSuggestedActions, suggestionTools } from './suggested-actions.js';
import { openTasksForPrompt, ownTaskForPrompt, type PromptSubtask, type PromptTask } from './task-context.js';
import { assertTaskQuota } from './task-counters.js';

export type ChatResult = components['schemas']['ChatResult'];
export type ChatInput = components['schemas']['ChatRequest'];

/** Who is asking: the actor, and the session the per-task counter is kept for. */
export interface AiCaller {
  actor: Actor;
  sessionId: string;
}

const DEFAULT_TASK_LIMIT = 10;

const SYSTEM_PROMPT = `You are the assistant of Perpetua Flow, a task manager. Answer the user's message helpfully and briefly.
You can propose changes with the tools. A proposal is only a suggestion the user may confirm later: never claim that you changed anything.
Only propose changes to tasks listed in the context, by their id. Due dates are at most 30 days ahead.`;

const taskLine = (t: PromptTask) =>
  JSON.stringify({
    id: t.id,
    title: t.title,
    description: t.description || undefined,
    priority: t.priority,
    due_date: isoOrNull(t.due_date),
    estimated_minutes: t.estimated_duration ?? undefined,
    completed: t.completed,
    archived: t.archived || undefined,
  });

interface PreparedChat {
  request: Omit<AiRequest, 'signal'>;
  shownTasks: Map<string, { version: number }>;
  taskId?: string;
}

/** The checks of the request itself (task ownership, the per-task quota), then the prompt (the caller's data only); credits are checked by the reservation. */
async function prepareChat(deps: AiUseCaseDeps, { caller, input, now }: { caller: AiCaller; input: ChatInput; now: Date }): Promise<PreparedChat> {
  const { db } = deps;
  const userId = caller.actor.userId;
  const message = input.message.trim();
  if (!message) throw invalidField('body.message', 'must not be blank');

  let focus: (PromptTask & { subtasks: PromptSubtask[] }) | undefined;
  if (input.task_id) {
    focus = await ownTaskForPrompt(db, userId, input.task_id);
    await assertTaskQuota(db, { userId, sessionId: caller.sessionId, taskId: input.task_id });
  }
  // Credits are checked by the reservation (402 before the provider is asked), not read here first:
  // a read here was one more statement for every chat that can pay (bench/fixes.md 30).
  const listed = input.context?.include_tasks ? await openTasksForPrompt(db, userId, input.context.task_limit ?? DEFAULT_TASK_LIMIT) : [];

  const shownTasks = new Map<string, { version: number }>();
  const context: string[] = [`Current time (UTC): ${now.toISOString()}`];
  if (focus) {
    shownTasks.set(focus.id, { version: focus.version });
    context.push(`The conversation is about this task:\n${taskLine(focus)}`);
    context.push(focus.subtasks.length ? `Its subtasks, in order:\n${focus.subtasks.map((s) => `- ${s.completed ? '[done] ' : ''}${s.title}`).join('\n')}` : 'It has no subtasks yet.');
  }
  const others = listed.filter((t) => t.id !== focus?.id);
  if (others.length) {
    for (const t of others) shownTasks.set(t.id, { version: t.version });
    context.push(`The user's open tasks, earliest due first:\n${others.map(taskLine).join('\n')}`);
  }
  const messages: AiMessage[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'system', content: context.join('\n\n') },
    { role: 'user', content: message },
  ];
  return { request: { messages, tools: suggestionTools(shownTasks.size > 0) }, shownTasks, taskId: input.task_id };
}

/** What a chat request is charged and logged as. */
function chatCharge(deps: AiUseCaseDeps, { caller, prepared, suggestedActions = 0 }: { caller: AiCaller; prepared: PreparedChat; suggestedActions?: number }): AiCharge {
  const requestId = caller.actor.requestId ?? 'none';
  return {
    actor: caller.actor,
    sessionId: caller.sessionId,
    taskId: prepared.taskId,
    credits: deps.config.AI_CREDIT_CHAT,
    description: 'AI chat',
    operationRef: `ai_chat:${requestId}`,
    activity: { entityId: prepared.taskId ?? requestId, action: 'ai_chat', extra: { suggested_actions: suggestedActions } },
  };
}

const chatResult = ({ content, suggested, credits, charged }: { content: string; suggested: ChatResult['suggested_actions']; credits: number; charged: { balanceAfter: number; warning: boolean } }): ChatResult => ({
  response: content,
  suggested_actions: suggested,
  credits_used: credits,
  credits_remaining: charged.balanceAfter,
  ai_request_warning: charged.warning,
});

/**
 * POST /ai/chat as JSON: the credit and the per-task slot are reserved before the provider is asked
 * (402/429 with no provider call), kept when the answer is usable and refunded otherwise.
 */
export async function chat(deps: AiUseCaseDeps, caller: AiCaller, input: ChatInput): Promise<ChatResult> {
  const prepared = await prepareChat(deps, { caller, input, now: new Date() });
  assertProviderConfigured(deps.ai);
  const charge = chatCharge(deps, { caller, prepared });
  return paidAiRequest(deps, { charge, refundDescription: 'Refund: AI chat not completed' }, async (reservation) => {
    const answer = await deps.ai.complete(prepared.request);
    const suggested = toSuggestedActions(answer.toolCalls, prepared.shownTasks, deps);
    const { balanceAfter } = await confirmAiRequest(deps.db, { charge: chatCharge(deps, { caller, prepared, suggestedActions: suggested.length }), reservation });
    return chatResult({ content: answer.content, suggested, credits: charge.credits, charged: { balanceAfter, warning: reservation.warning } });
  });
}

export interface ChatStream {
  /** The answer's text, piece by piece; throws 503 when the provider fails or times out. */
  pieces: AsyncIterable<string>;
  /** After the last piece: validates and records the answer; the result for the `done` event. */
  settle(): Promise<ChatResult>;
  /**
   * The stream ends without `done` (the provider failed, the answer was invalid, the client left
   * before the provider finished): refunds the reserved credit and frees the per-task slot. Never
   * throws; only the first call before a successful settle() does anything.
   */
  release(): Promise<void>;
}

/**
 * The streaming chat: runs every check, then reserves the credit and the per-task slot (402/429
 * here, with nothing charged) before the provider is asked — text that was sent cannot be taken
 * back, so it must be paid for before the first piece goes out. Then it starts the provider's
 * stream and waits for its first piece, so that any failure until then is an ordinary error answer
 * (and the reservation is refunded). `signal` stops the generation (the client went away).
 */
export async function openChatStream(deps: AiUseCaseDeps, { caller, input, signal }: { caller: AiCaller; input: ChatInput; signal: AbortSignal }): Promise<ChatStream> {
  const prepared = await prepareChat(deps, { caller, input, now: new Date() });
  assertProviderConfigured(deps.ai);
  const charge = chatCharge(deps, { caller, prepared });
  const reservation = await reserveAiRequest(deps.db, charge);
  let confirmed = false;
  let released: Promise<void> | undefined;
  const release = () => {
    // A confirmed answer was complete: it stays paid whatever happens to the stream afterwards.
    if (confirmed) return Promise.resolve();
    return (released ??= releaseAiRequest(deps.db, { charge, reservation, description: 'Refund: AI chat not completed' }).catch((err: unknown) => {
      deps.log.error({ err, request_id: caller.actor.requestId, ledger_entry: reservation.entryId }, 'AI chat reservation could not be refunded');
    }));
  };

  let stream;
  try {
    stream = await deps.ai.stream({ ...prepared.request, signal });
  } catch (err) {
    await release();
    throw translateProviderFailure(err);
  }
  return {
    pieces: translatedStream(stream),
    async settle() {
      const answer = stream.completion();
      const suggested = toSuggestedActions(answer.toolCalls, prepared.shownTasks, deps);
      await confirmAiRequest(deps.db, { charge: chatCharge(deps, { caller, prepared, suggestedActions: suggested.length }), reservation });
      confirmed = true;
      return chatResult({ content: answer.content, suggested, credits: charge.credits, charged: reservation });
    },
    release,
  };
}
