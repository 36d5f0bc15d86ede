import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import type { SyncEntityType } from '../../../db/schema/index.js';
import { invalidField } from '../../core/errors.js';
import { presentNote } from '../notes/present.js';
import { presentNotification } from '../notifications/present.js';
import { presentReminder } from '../reminders/present.js';
import { presentSubtask } from '../subtasks/present.js';
import { presentTask } from '../tasks/present.js';
import { subtaskCounts, type TaskWithCounts } from '../tasks/queries.js';
import { iso } from '../time.js';
import { afterSnapshot, decodeCursor, encodeCursor, type SyncCursor } from './cursor.js';

export type SyncChanges = components['schemas']['SyncChanges'];
type Deletion = components['schemas']['SyncDeletion'];

/** The order a snapshot pages through the kinds; a snapshot cursor stores the index. */
const KINDS: SyncEntityType[] = ['task', 'subtask', 'reminder', 'note', 'notification'];

interface Position {
  /** Changes of transactions below it are final: none of them is still running. */
  xmin: bigint;
  /** The next transaction id: nothing at or above it exists yet. */
  xmax: bigint;
}

/**
 * One page of the user's changes since `cursorText` (or of a full snapshot without it). Read in one
 * REPEATABLE READ snapshot so the position and the rows agree. Entities are sent in their current
 * state, whatever change named them: a client that applies every page converges on the server.
 */
export async function syncChanges(db: Database, { userId, cursorText, limit }: { userId: string; cursorText: string | undefined; limit: number }): Promise<SyncChanges> {
  const cursor = cursorText === undefined ? undefined : decodeCursor(userId, cursorText, KINDS.length);
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const pos = await position(trx);
      if (cursor && (cursor.phase === 'delta' ? cursor.xid >= pos.xmax : cursor.boundary > pos.xmax || cursor.boundary < 1n)) {
        throw invalidField('query.cursor', 'is not a cursor of this user; sync again without a cursor');
      }
      const start = cursor ?? { phase: 'snapshot', boundary: pos.xmin, kind: 0, afterId: null };
      return start.phase === 'snapshot' ? snapshotPage(trx, { userId, cursor: start, pos, limit }) : deltaPage(trx, { userId, cursor: start, pos, limit });
    });
}

async function position(trx: Executor): Promise<Position> {
  const { rows } = await sql<{ xmin: string; xmax: string }>`
    select pg_snapshot_xmin(pg_current_snapshot())::text as xmin, pg_snapshot_xmax(pg_current_snapshot())::text as xmax`.execute(trx);
  return { xmin: BigInt(rows[0]!.xmin), xmax: BigInt(rows[0]!.xmax) };
}

const empty = (): Omit<SyncChanges, 'cursor' | 'has_more'> => ({ tasks: [], subtasks: [], reminders: [], notes: [], notifications: [], deletions: [] });

/**
 * Changes after the cursor whose transactions are final, in (xid, seq) order. The ORDER BY names the
 * table's columns: a bare `xid, seq` there means the text output columns of the same names, which
 * sort "100" before "98" and made the cursor skip changes (tests/sync/sync.test.ts, power of ten).
 */
async function deltaPage(trx: Executor, { userId, cursor: c, pos, limit }: { userId: string; cursor: Extract<SyncCursor, { phase: 'delta' }>; pos: Position; limit: number }): Promise<SyncChanges> {
  const { rows } = await sql<{ xid: string; seq: string; entity_type: SyncEntityType; entity_id: string; changed_at: Date }>`
    select xid::text as xid, seq::text as seq, entity_type, entity_id, changed_at
      from sync_changes
     where user_id = ${userId}
       and (xid, seq) > (${c.xid.toString()}::xid8, ${c.seq.toString()}::bigint)
       and xid < ${pos.xmin.toString()}::xid8
     order by sync_changes.xid, sync_changes.seq
     limit ${limit + 1}`.execute(trx);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  // The latest change of each entity in the page: when the entity is gone, its time is the deletion's.
  const touched = new Map<string, { type: SyncEntityType; id: string; at: Date }>();
  for (const r of page) touched.set(`${r.entity_type}:${r.entity_id}`, { type: r.entity_type, id: r.entity_id, at: r.changed_at });
  const out = empty();
  for (const kind of KINDS) {
    const wanted = [...touched.values()].filter((e) => e.type === kind);
    if (wanted.length === 0) continue;
    const found = await loadKind(trx, { userId, kind, sel: { ids: wanted.map((e) => e.id) }, out });
    for (const e of wanted) if (!found.has(e.id)) out.deletions.push(deletion(e.type, e.id, e.at));
  }
  const next: SyncCursor = last ? { phase: 'delta', xid: BigInt(last.xid), seq: BigInt(last.seq) } : c;
  return { ...out, cursor: encodeCursor(userId, next), has_more: rows.length > limit };
}

const deletion = (entity_type: SyncEntityType, id: string, at: Date): Deletion => ({ entity_type, id, deleted_at: iso(at) });

/** The user's current rows, kind by kind, by id; then the changes made since the snapshot began. */
async function snapshotPage(trx: Executor, { userId, cursor: c, pos, limit }: { userId: string; cursor: Extract<SyncCursor, { phase: 'snapshot' }>; pos: Position; limit: number }): Promise<SyncChanges> {
  const out = empty();
  let room = limit;
  for (let kind = c.kind; kind < KINDS.length; kind++) {
    const afterId = kind === c.kind ? c.afterId : null;
    const found = await loadKind(trx, { userId, kind: KINDS[kind]!, sel: { afterId, limit: room + 1 }, out, keep: room });
    if (found.size > room) {
      const lastId = [...found.keys()][room - 1]!;
      return { ...out, cursor: encodeCursor(userId, { phase: 'snapshot', boundary: c.boundary, kind, afterId: lastId }), has_more: true };
    }
    room -= found.size;
    if (room === 0 && kind < KINDS.length - 1) {
      const lastId = [...found.keys()].at(-1) ?? afterId;
      return { ...out, cursor: encodeCursor(userId, { phase: 'snapshot', boundary: c.boundary, kind, afterId: lastId }), has_more: true };
    }
  }
  const next = afterSnapshot(c.boundary);
  const pending = await sql<{ one: number }>`
    select 1 as one from sync_changes
     where user_id = ${userId} and xid >= ${c.boundary.toString()}::xid8 and xid < ${pos.xmin.toString()}::xid8
     limit 1`.execute(trx);
  return { ...out, cursor: encodeCursor(userId, next), has_more: pending.rows.length > 0 };
}

type Selection = { ids: string[] } | { afterId: string | null; limit: number };

/**
 * Loads the user's rows of one kind — by ids, or the next `limit` by id — and appends at most `keep`
 * of them (presented) to `out`. Returns the ids found, in order (one more than `keep` tells there is more).
 */
async function loadKind(trx: Executor, { userId, kind, sel, out, keep = Infinity }: { userId: string; kind: SyncEntityType; sel: Selection; out: ReturnType<typeof empty>; keep?: number }): Promise<Map<string, true>> {
  const byIds = 'ids' in sel;
  const found = new Map<string, true>();
  const add = <R extends { id: string }, T>(rows: R[], present: (r: R) => T, list: T[]) => {
    rows.forEach((r, i) => {
      found.set(r.id, true);
      if (i < keep) list.push(present(r));
    });
  };
  switch (kind) {
    case 'task': {
      let q = trx
        .selectFrom('task_instances as t')
        .leftJoinLateral(() => subtaskCounts(trx).as('c'), (join) => join.onTrue())
        .selectAll('t')
        .select(['c.subtask_count', 'c.subtask_completed_count'])
        .where('t.user_id', '=', userId);
      q = byIds ? q.where('t.id', 'in', sel.ids) : q.where('t.id', '>', sel.afterId ?? '00000000-0000-0000-0000-000000000000').orderBy('t.id').limit(sel.limit);
      add((await q.execute()) as TaskWithCounts[], presentTask, out.tasks);
      break;
    }
    case 'subtask': {
      let q = trx.selectFrom('subtasks as s').innerJoin('task_instances as t', 't.id', 's.task_id').selectAll('s').where('t.user_id', '=', userId);
      q = byIds ? q.where('s.id', 'in', sel.ids) : q.where('s.id', '>', sel.afterId ?? '00000000-0000-0000-0000-000000000000').orderBy('s.id').limit(sel.limit);
      add(await q.execute(), presentSubtask, out.subtasks);
      break;
    }
    case 'reminder': {
      let q = trx.selectFrom('reminders').selectAll().where('user_id', '=', userId);
      q = byIds ? q.where('id', 'in', sel.ids) : q.where('id', '>', sel.afterId ?? '00000000-0000-0000-0000-000000000000').orderBy('id').limit(sel.limit);
      add(await q.execute(), presentReminder, out.reminders);
      break;
    }
    case 'note': {
      let q = trx.selectFrom('notes').selectAll().where('user_id', '=', userId);
      q = byIds ? q.where('id', 'in', sel.ids) : q.where('id', '>', sel.afterId ?? '00000000-0000-0000-0000-000000000000').orderBy('id').limit(sel.limit);
      add(await q.execute(), presentNote, out.notes);
      break;
    }
    case 'notification': {
      let q = trx.selectFrom('notifications').selectAll().where('user_id', '=', userId);
      q = byIds ? q.where('id', 'in', sel.ids) : q.where('id', '>', sel.afterId ?? '00000000-0000-0000-0000-000000000000').orderBy('id').limit(sel.limit);
      add(await q.execute(), presentNotification, out.notifications);
      break;
    }
  }
  return found;
}
