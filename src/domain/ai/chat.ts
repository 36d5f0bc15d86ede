import type { components } from '../../../codegen/api.js';
import type { AppDeps } from '../../deps.js';
import { invalidField } from '../../http/errors.js';
import type { AiMessage, AiRequest } from '../../integrations/openai.js';
import type { Actor } from '../actor.js';
import { assertCanAfford } from '../credits/ledger.js';
import { isoOrNull } from '../time.js';
import { chargeAiRequest } from './charge.js';
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

/** Every check that can fail before the provider is called, then the prompt (the caller's data only). */
async function prepareChat(deps: AppDeps, caller: AiCaller, input: ChatInput, now: Date): Promise<PreparedChat> {
  const { db, config } = deps;
  const userId = caller.actor.userId;
  const message = input.message.trim();
  if (!message) throw invalidField('body.message', 'must not be blank');

  let focus: (PromptTask & { subtasks: PromptSubtask[] }) | undefined;
  if (input.task_id) {
    focus = await ownTaskForPrompt(db, userId, input.task_id);
    await assertTaskQuota(db, { userId, sessionId: caller.sessionId, taskId: input.task_id });
  }
  await assertCanAfford(db, userId, config.AI_CREDIT_CHAT);
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

/** Validates the answer, then charges for it (and counts it) in one transaction. */
async function settleChat(deps: AppDeps, caller: AiCaller, prepared: PreparedChat, answer: { content: string; toolCalls: { name: string; arguments: string }[] }): Promise<ChatResult> {
  const suggested = toSuggestedActions(answer.toolCalls, prepared.shownTasks, deps);
  const credits = deps.config.AI_CREDIT_CHAT;
  const requestId = caller.actor.requestId ?? 'none';
  const charged = await chargeAiRequest(deps.db, {
    actor: caller.actor,
    sessionId: caller.sessionId,
    taskId: prepared.taskId,
    credits,
    description: 'AI chat',
    operationRef: `ai_chat:${requestId}`,
    activity: { entityId: prepared.taskId ?? requestId, action: 'ai_chat', extra: { suggested_actions: suggested.length } },
  });
  return {
    response: answer.content,
    suggested_actions: suggested,
    credits_used: credits,
    credits_remaining: charged.balanceAfter,
    ai_request_warning: charged.warning,
  };
}

/** POST /ai/chat as JSON. */
export async function chat(deps: AppDeps, caller: AiCaller, input: ChatInput): Promise<ChatResult> {
  const prepared = await prepareChat(deps, caller, input, new Date());
  const answer = await deps.ai.complete(prepared.request);
  return settleChat(deps, caller, prepared, answer);
}

export interface ChatStream {
  /** The answer's text, piece by piece; throws 503 when the provider fails or times out. */
  pieces: AsyncIterable<string>;
  /** After the last piece: validates, charges and counts; the result for the `done` event. */
  settle(): Promise<ChatResult>;
}

/**
 * The streaming chat: runs every check, starts the provider's stream and waits for its first piece,
 * so that any failure until then is an ordinary error answer. `signal` stops the generation (the
 * client went away); nothing is charged unless the answer was complete.
 */
export async function openChatStream(deps: AppDeps, caller: AiCaller, input: ChatInput, signal: AbortSignal): Promise<ChatStream> {
  const prepared = await prepareChat(deps, caller, input, new Date());
  const stream = await deps.ai.stream({ ...prepared.request, signal });
  return {
    pieces: stream,
    settle: () => settleChat(deps, caller, prepared, stream.completion()),
  };
}
