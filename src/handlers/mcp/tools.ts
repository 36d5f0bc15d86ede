import type { ValidateFunction } from 'ajv/dist/2020.js';
import { CONTRACT_SCHEMA_ID, contractAjv, type Contract } from '../../core/contract.js';
import { DomainError } from '../../core/errors.js';
import { pageParams } from '../../core/pagination.js';
import type { Actor } from '../../domain/actor.js';
import { presentNote } from '../../domain/notes/present.js';
import { createNote } from '../../domain/notes/create-note.js';
import { listReminders } from '../../domain/reminders/list-reminders.js';
import { searchItems } from '../../domain/search/search-items.js';
import { createSubtasks } from '../../domain/subtasks/create-subtasks.js';
import { createTask } from '../../domain/tasks/create-task.js';
import { listTasks } from '../../domain/tasks/list-tasks.js';
import { updateTask } from '../../domain/tasks/update-task.js';
import { toFloating } from '../../domain/templates/recurrence.js';
import { findUserById } from '../../domain/users/queries.js';
import { wallClockToInstant } from '../../domain/zones.js';
import type { AppDeps } from '../../deps.js';

// The MCP server's tools. Each is declared in the contract (`x-mcp-tools` on POST /mcp: the token
// scopes it needs and the JSON Schema of its arguments, built from the REST operations' schemas),
// validated with the contract's Ajv, and runs the same domain function as its REST operation with
// an actor whose source is `ai`, so the activity log says the assistant made the change.

export interface ToolDeclaration {
  scopes: string[];
  description: string;
  input: Record<string, unknown>;
}

export interface McpTool {
  name: string;
  scopes: readonly string[];
  description: string;
  /** The arguments' JSON Schema with every `$ref` resolved, for `tools/list`. */
  inputSchema: Record<string, unknown>;
  validate: ValidateFunction;
}

/** What a tool runs with: the database, the caller as an `ai` actor. */
export interface ToolContext {
  db: AppDeps['db'];
  actor: Actor;
}

const DAY_MS = 86_400_000;

type Args = Record<string, any>;

/** The tools' bodies, by name; the contract declares the same names (checked when the tools are built). */
const RUN: Record<string, (c: ToolContext, args: Args) => Promise<unknown>> = {
  list_tasks: async (c, { limit, offset, ...filters }) => listTasks(c.db, { userId: c.actor.userId, filter: filters, page: pageParams({ limit, offset }) }),
  search_tasks: async (c, { q, limit }) => {
    const found = await searchItems(c.db, { userId: c.actor.userId, q, page: pageParams({ limit }) });
    // Notes need notes:read, which this tool does not ask for.
    return { data: found.data.filter((item) => item.kind !== 'note') };
  },
  create_task: async (c, args) => (await createTask(c.db, c.actor, args as Parameters<typeof createTask>[2])).task,
  update_task: async (c, { task_id, changes }) => (await updateTask(c.db, { actor: c.actor, taskId: task_id, input: changes })).task,
  complete_task: async (c, { task_id }) => (await updateTask(c.db, { actor: c.actor, taskId: task_id, input: { completed: true } })).task,
  add_subtasks: async (c, { task_id, titles }) => (await createSubtasks(c.db, { actor: c.actor, taskId: task_id, titles, source: 'user' })).subtasks,
  add_note: async (c, args) => presentNote(await createNote(c.db, c.actor, args as Parameters<typeof createNote>[2])),
  list_todays_reminders: async (c) => {
    const user = await findUserById(c.db, c.actor.userId);
    const zone = user?.timezone ?? 'UTC';
    const now = new Date();
    const wall = toFloating(now, zone);
    const midnight = new Date(Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate()));
    const [start, end] = [wallClockToInstant(midnight, zone), wallClockToInstant(new Date(midnight.getTime() + DAY_MS), zone)];
    const open = await listReminders(c.db, { userId: c.actor.userId, filter: { fired: false }, page: pageParams({ limit: 100 }) });
    return { data: open.data.filter((r) => r.scheduled_at !== null && new Date(r.scheduled_at) >= start && new Date(r.scheduled_at) < end), time_zone: zone };
  },
};

/** A copy of `schema` whose `#/components/...` refs point into the contract's Ajv. */
const intoContract = (schema: unknown): unknown =>
  JSON.parse(JSON.stringify(schema), (k, v) => (k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${CONTRACT_SCHEMA_ID}${v}` : v));

/** `schema` with its `#/components/...` refs replaced by what they name (the contract's request schemas have no cycles). */
function dereference(doc: Record<string, any>, schema: unknown, depth = 0): unknown {
  if (depth > 20) throw new Error('MCP tool schema nests too deep');
  if (Array.isArray(schema)) return schema.map((s) => dereference(doc, s, depth + 1));
  if (!schema || typeof schema !== 'object') return schema;
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') {
    const target = s.$ref.slice(2).split('/').reduce((o: any, key) => o?.[key], doc);
    const { $ref: _ref, ...rest } = s;
    return dereference(doc, { ...target, ...rest }, depth + 1);
  }
  return Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'examples' && k !== 'example').map(([k, v]) => [k, dereference(doc, v, depth + 1)]));
}

const built = new WeakMap<Contract, McpTool[]>();

/** The tools the contract declares on POST /mcp, with their validators; built once per contract. */
export function mcpTools(contract: Contract): McpTool[] {
  let tools = built.get(contract);
  if (tools) return tools;
  const declared: Record<string, ToolDeclaration> = contract.document.paths?.['/mcp']?.post?.['x-mcp-tools'] ?? {};
  const ajv = contractAjv(contract);
  tools = Object.entries(declared).map(([name, d]) => {
    if (!RUN[name]) throw new Error(`x-mcp-tools declares ${name}, which src/handlers/mcp/tools.ts does not implement`);
    return { name, scopes: d.scopes, description: d.description, inputSchema: dereference(contract.document, d.input) as Record<string, unknown>, validate: ajv.compile(intoContract(d.input) as object) };
  });
  const missing = Object.keys(RUN).filter((name) => !(name in declared));
  if (missing.length) throw new Error(`tools without a declaration in x-mcp-tools: ${missing.join(', ')}`);
  built.set(contract, tools);
  return tools;
}

/** Runs a tool whose arguments passed its schema; a DomainError comes back to the caller as a refusal. */
export const runTool = (tool: McpTool, c: ToolContext, args: Args): Promise<unknown> => RUN[tool.name]!(c, args);

export const isRefusal = (err: unknown): err is DomainError => err instanceof DomainError;
