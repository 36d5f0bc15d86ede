import type { components } from '../../../codegen/api.js';
import type { Contract } from '../../core/contract.js';
import { serviceUnavailable } from '../../core/errors.js';
import type { Logger } from '../../core/logging.js';
import type { AiTool, AiToolCall } from '../../integrations/openai.js';
import { contractSchema, validationSummary } from './contract-schemas.js';

// Suggested actions come from the model's tool calls. The tools only *describe* a change: nothing
// runs until the user confirms the action through POST /ai/confirm-action (FR-034, AD-004).

export type SuggestedAction = components['schemas']['SuggestedAction'];

const priority = { type: 'string', enum: ['low', 'medium', 'high'] };
const dueDate = { type: 'string', description: 'ISO 8601 date-time with a zone, e.g. 2026-01-23T16:00:00Z; at most 30 days ahead.' };
const minutes = { type: 'integer', minimum: 1, maximum: 720, description: 'Estimated minutes.' };
const summary = { type: 'string', description: 'One sentence telling the user what confirming does.' };
/** ChatResult.suggested_actions holds at most this many (the contract's maxItems); more are dropped. */
const MAX_SUGGESTED_ACTIONS = 20;
const taskFields = {
  title: { type: 'string', minLength: 1, maxLength: 200 },
  description: { type: 'string', maxLength: 2000 },
  priority,
  due_date: dueDate,
  estimated_duration: minutes,
};

const CREATE_TASK: AiTool = {
  name: 'suggest_create_task',
  description: 'Propose a new task. The user decides whether to create it.',
  parameters: {
    type: 'object',
    additionalProperties: false,
    required: ['summary', 'task'],
    properties: { summary, task: { type: 'object', additionalProperties: false, required: ['title'], properties: taskFields } },
  },
};
const UPDATE_TASK: AiTool = {
  name: 'suggest_update_task',
  description: 'Propose changes to one of the listed tasks (only the fields to change).',
  parameters: {
    type: 'object',
    additionalProperties: false,
    required: ['summary', 'task_id', 'changes'],
    properties: { summary, task_id: { type: 'string' }, changes: { type: 'object', additionalProperties: false, minProperties: 1, properties: taskFields } },
  },
};
const COMPLETE_TASK: AiTool = {
  name: 'suggest_complete_task',
  description: 'Propose marking one of the listed tasks as completed.',
  parameters: { type: 'object', additionalProperties: false, required: ['summary', 'task_id'], properties: { summary, task_id: { type: 'string' } } },
};
const CREATE_SUBTASKS: AiTool = {
  name: 'suggest_create_subtasks',
  description: 'Propose subtasks for one of the listed tasks.',
  parameters: {
    type: 'object',
    additionalProperties: false,
    required: ['summary', 'task_id', 'subtasks'],
    properties: {
      summary,
      task_id: { type: 'string' },
      subtasks: {
        type: 'array',
        minItems: 1,
        maxItems: 10,
        items: { type: 'object', additionalProperties: false, required: ['title'], properties: { title: { type: 'string', minLength: 1, maxLength: 200 } } },
      },
    },
  },
};

/** The tools offered: actions on existing tasks only when the prompt showed the model some tasks. */
export const suggestionTools = (withTasks: boolean): AiTool[] => (withTasks ? [CREATE_TASK, UPDATE_TASK, COMPLETE_TASK, CREATE_SUBTASKS] : [CREATE_TASK]);

/**
 * Turns tool calls into suggested actions valid against the contract's SuggestedAction. A call that
 * cannot be read or fails the schema makes the whole answer invalid (503, nothing charged). An
 * action on a task the prompt did not show — which can only be a made-up id — is dropped. An
 * update carries the version of the task the model saw, so a later change makes it a 409.
 */
export function toSuggestedActions(
  calls: AiToolCall[],
  shownTasks: ReadonlyMap<string, { version: number }>,
  deps: { contract: Contract; log: Logger },
): SuggestedAction[] {
  const validate = contractSchema(deps.contract, 'SuggestedAction');
  const actions: SuggestedAction[] = [];
  for (const call of calls) {
    if (actions.length === MAX_SUGGESTED_ACTIONS) {
      deps.log.warn({ calls: calls.length }, 'AI suggested more actions than an answer holds; the rest dropped');
      break;
    }
    let args: any;
    try {
      args = JSON.parse(call.arguments);
    } catch {
      throw invalidAnswer(deps.log, `arguments of ${call.name} are not JSON`);
    }
    if (!args || typeof args !== 'object') throw invalidAnswer(deps.log, `arguments of ${call.name} are not an object`);
    const description = typeof args.summary === 'string' ? args.summary : '';
    const taskId = typeof args.task_id === 'string' ? args.task_id : undefined;
    let action: unknown;
    switch (call.name) {
      case 'suggest_create_task':
        action = { type: 'create_task', description, data: args.task };
        break;
      case 'suggest_update_task':
      case 'suggest_complete_task':
      case 'suggest_create_subtasks': {
        const shown = taskId ? shownTasks.get(taskId) : undefined;
        if (!shown) {
          deps.log.warn({ tool: call.name }, 'AI suggested an action on a task it was not shown; dropped');
          continue;
        }
        if (call.name === 'suggest_update_task') action = { type: 'update_task', task_id: taskId, description, data: { ...args.changes, task_id: taskId, version: shown.version } };
        else if (call.name === 'suggest_complete_task') action = { type: 'complete_task', task_id: taskId, description, data: { task_id: taskId } };
        else action = { type: 'create_subtasks', task_id: taskId, description, data: { task_id: taskId, subtasks: args.subtasks } };
        break;
      }
      default:
        throw invalidAnswer(deps.log, `unknown tool ${call.name}`);
    }
    if (!validate(action)) throw invalidAnswer(deps.log, `${call.name}: ${validationSummary(validate)}`);
    actions.push(action as SuggestedAction);
  }
  return actions;
}

/** The provider answered, but not something we can use: the same 503 as an outage, nothing charged. */
export function invalidAnswer(log: Logger, why: string) {
  log.warn({ why }, 'AI answer failed validation');
  return serviceUnavailable('AI_SERVICE_UNAVAILABLE', 'The AI service gave an unusable answer; nothing was charged');
}
