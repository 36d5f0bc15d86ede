import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import { DomainError, notFound, validationError } from '../../core/errors.js';
import type { Actor } from '../actor.js';
import { createNote } from '../notes/create-note.js';
import { deleteNote } from '../notes/delete-note.js';
import { updateNote } from '../notes/update-note.js';
import { createReminder } from '../reminders/create-reminder.js';
import { deleteReminder } from '../reminders/delete-reminder.js';
import { updateReminder } from '../reminders/update-reminder.js';
import { insertSubtasks } from '../subtasks/create-subtasks.js';
import { deleteSubtask } from '../subtasks/delete-subtask.js';
import { reorderSubtasks } from '../subtasks/reorder-subtasks.js';
import { updateSubtask } from '../subtasks/update-subtask.js';
import { createTask } from '../tasks/create-task.js';
import { deleteTask } from '../tasks/delete-task.js';
import { updateTask } from '../tasks/update-task.js';
import { afterSnapshot, encodeCursor } from './cursor.js';
import { canonicalJson } from '../../core/canonical-json.js';

export type SyncCommand = components['schemas']['SyncCommand'];
export type SyncCommandResult = components['schemas']['SyncCommandResult'];
export type SyncCommandsResult = components['schemas']['SyncCommandsResult'];
type ErrorObject = components['schemas']['ErrorObject'];

/** How a refusal is answered: the transport's status and error object for a domain error. */
export type DescribeError = (err: DomainError) => { status: number; error: ErrorObject };

export interface ApplySyncCommandsInput {
  db: Database;
  actor: Actor;
  commands: SyncCommand[];
  describeError: DescribeError;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What each command's `id` names, for the NOT_FOUND of an id that resolves to nothing. */
const TARGET: Record<SyncCommand['type'], string | null> = {
  task_add: null,
  task_update: 'Task',
  task_complete: 'Task',
  task_uncomplete: 'Task',
  task_delete: 'Task',
  subtask_add: 'Task',
  subtask_update: 'Subtask',
  subtask_delete: 'Subtask',
  subtask_reorder: 'Task',
  note_add: null,
  note_update: 'Note',
  note_delete: 'Note',
  reminder_add: 'Task',
  reminder_update: 'Reminder',
  reminder_delete: 'Reminder',
};

const fingerprintOf = (c: SyncCommand) =>
  createHash('sha256')
    .update(canonicalJson([c.type, 'temp_id' in c ? (c.temp_id ?? null) : null, 'id' in c ? c.id : null, c.args]))
    .digest('base64url');

/** Thrown inside a command's transaction when its uuid is already stored: nothing is applied. */
class AlreadyApplied extends Error {}

interface Stored {
  type: string;
  fingerprint: string;
  temp_id: string | null;
  entity_id: string | null;
  http_status: number;
  error: Record<string, unknown> | null;
}

/**
 * Issue 19 item 2 (POST /sync): applies a batch of offline commands in order, each through the
 * single operation's use case and in its own transaction, and once per (user, uuid): the result is
 * stored with the change (a failure in a transaction of its own), and a command whose uuid is stored
 * answers that result again without being applied. A failure is that command's result, never the
 * batch's. Another user's id answers FORBIDDEN, as its single operation does (SPEC FR-005).
 */
export async function applySyncCommands({ db, actor, commands, describeError }: ApplySyncCommandsInput): Promise<SyncCommandsResult> {
  const firstWithTempId = new Map<string, number>();
  commands.forEach((c, i) => {
    if (!('temp_id' in c) || c.temp_id === undefined) return;
    const first = firstWithTempId.get(c.temp_id);
    if (first !== undefined) throw validationError([{ field: `body.commands.${i}.temp_id`, message: `is already the temp_id of command ${first}` }]);
    firstWithTempId.set(c.temp_id, i);
  });

  const batch: Batch = { db, actor, describeError, mapping: new Map() };
  const results: SyncCommandResult[] = [];
  for (const c of commands) {
    const result = await applyOne(batch, c);
    if (result.status === 'ok' && 'temp_id' in c && c.temp_id !== undefined && result.id) batch.mapping.set(c.temp_id, result.id);
    results.push(result);
  }
  return { results, temp_id_mapping: Object.fromEntries(batch.mapping), cursor: await cursorNow(db, actor.userId) };
}

/** What every command of a batch shares: the caller, the temp_ids mapped so far, how errors answer. */
interface Batch {
  db: Database;
  actor: Actor;
  describeError: DescribeError;
  /** temp_id → real id, for the commands applied so far. */
  mapping: Map<string, string>;
}

async function applyOne(batch: Batch, c: SyncCommand): Promise<SyncCommandResult> {
  const { db, actor, describeError } = batch;
  const fingerprint = fingerprintOf(c);
  const tempId = 'temp_id' in c ? (c.temp_id ?? null) : null;
  const stored = await storedCommand(db, actor.userId, c.uuid);
  if (stored) return answerStored(batch, c, { stored, fingerprint });

  const okStatus = c.type.endsWith('_add') ? 201 : 200;
  try {
    const id = await db.transaction().execute(async (trx) => {
      const claimed = await trx
        .insertInto('sync_commands')
        .values({ user_id: actor.userId, uuid: c.uuid, type: c.type, fingerprint, temp_id: tempId, http_status: okStatus })
        .onConflict((oc) => oc.columns(['user_id', 'uuid']).doNothing())
        .returning('uuid')
        .executeTakeFirst();
      if (!claimed) throw new AlreadyApplied();
      const entityId = await run(trx, batch, c);
      await trx.updateTable('sync_commands').set({ entity_id: entityId }).where('user_id', '=', actor.userId).where('uuid', '=', c.uuid).execute();
      return entityId;
    });
    return { uuid: c.uuid, type: c.type, status: 'ok', http_status: okStatus, id };
  } catch (caught) {
    if (!(caught instanceof AlreadyApplied) && !(caught instanceof DomainError)) throw caught;
    if (caught instanceof DomainError) {
      const { status, error } = describeError(caught);
      const kept = await db
        .insertInto('sync_commands')
        .values({ user_id: actor.userId, uuid: c.uuid, type: c.type, fingerprint, temp_id: tempId, http_status: status, error: JSON.stringify(error) })
        .onConflict((oc) => oc.columns(['user_id', 'uuid']).doNothing())
        .returning('uuid')
        .executeTakeFirst();
      if (kept) return { uuid: c.uuid, type: c.type, status: 'error', http_status: status, error };
    }
    // A concurrent request with the same uuid stored it first: answer what it stored.
    const first = await storedCommand(db, actor.userId, c.uuid);
    if (!first) throw caught;
    return answerStored(batch, c, { stored: first, fingerprint });
  }
}

async function storedCommand(db: Executor, userId: string, uuid: string): Promise<Stored | undefined> {
  return db
    .selectFrom('sync_commands')
    .select(['type', 'fingerprint', 'temp_id', 'entity_id', 'http_status', 'error'])
    .where('user_id', '=', userId)
    .where('uuid', '=', uuid)
    .executeTakeFirst();
}

function answerStored({ describeError }: Batch, c: SyncCommand, { stored, fingerprint }: { stored: Stored; fingerprint: string }): SyncCommandResult {
  if (stored.fingerprint !== fingerprint) {
    const { status, error } = describeError(
      new DomainError('IDEMPOTENCY_KEY_MISMATCH', 'This command uuid was already used for another command; send a new uuid', { details: [{ field: 'uuid', message: 'was used for another command' }] }),
    );
    return { uuid: c.uuid, type: c.type, status: 'error', http_status: status, error };
  }
  if (stored.error) return { uuid: c.uuid, type: c.type, status: 'error', http_status: stored.http_status, error: stored.error as unknown as ErrorObject };
  return { uuid: c.uuid, type: c.type, status: 'ok', http_status: stored.http_status, ...(stored.entity_id ? { id: stored.entity_id } : {}) };
}

/** A command's `id`: an earlier command's temp_id, else a real id; anything else names nothing. */
function resolve(ref: string, mapping: Map<string, string>, type: SyncCommand['type']): string {
  const mapped = mapping.get(ref);
  if (mapped) return mapped;
  if (UUID.test(ref)) return ref.toLowerCase();
  throw notFound(TARGET[type] ?? 'Resource');
}

/** Applies one command through its single operation's use case; answers the entity's id. */
async function run(trx: Executor, { actor, mapping }: Batch, c: SyncCommand): Promise<string> {
  const id = (ref: string) => resolve(ref, mapping, c.type);
  switch (c.type) {
    case 'task_add':
      return (await createTask(trx, actor, c.args)).task.id;
    case 'task_update':
      return (await updateTask(trx, { actor, taskId: id(c.id), input: c.args })).task.id;
    case 'task_complete':
      return (await updateTask(trx, { actor, taskId: id(c.id), input: { completed: true } })).task.id;
    case 'task_uncomplete':
      return (await updateTask(trx, { actor, taskId: id(c.id), input: { completed: false } })).task.id;
    case 'task_delete': {
      const taskId = id(c.id);
      await deleteTask(trx, actor, taskId);
      return taskId;
    }
    case 'subtask_add':
      return (await insertSubtasks(trx, { actor, taskId: id(c.id), titles: [c.args.title], source: 'user', at: c.args.order_index })).subtasks[0]!.id;
    case 'subtask_update':
      return (await updateSubtask(trx, { actor, subtaskId: id(c.id), input: c.args })).subtask.id;
    case 'subtask_delete':
      return (await deleteSubtask(trx, actor, id(c.id))).id;
    case 'subtask_reorder': {
      const taskId = id(c.id);
      await reorderSubtasks(trx, { actor, taskId, subtaskIds: c.args.subtask_ids });
      return taskId;
    }
    case 'note_add':
      return (await createNote(trx, actor, c.args)).id;
    case 'note_update':
      return (await updateNote(trx, { actor, noteId: id(c.id), input: c.args })).id;
    case 'note_delete': {
      const noteId = id(c.id);
      await deleteNote(trx, actor, noteId);
      return noteId;
    }
    case 'reminder_add':
      return (await createReminder(trx, { actor, taskId: id(c.id), input: c.args })).id;
    case 'reminder_update':
      return (await updateReminder(trx, { actor, reminderId: id(c.id), input: c.args })).id;
    case 'reminder_delete':
      return (await deleteReminder(trx, actor, id(c.id))).id;
  }
}

/**
 * The delta position after the batch, as a snapshot's end: every change of a transaction that had
 * ended when it was taken is behind it, so a change committed after the answer never is.
 */
async function cursorNow(db: Database, userId: string): Promise<string> {
  const { rows } = await sql<{ xmin: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`.execute(db);
  return encodeCursor(userId, afterSnapshot(BigInt(rows[0]!.xmin)));
}
