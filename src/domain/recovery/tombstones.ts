import type { components } from '../../../codegen/api.js';
import { everyColumn } from '../../../db/columns.js';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import type { TombstoneEntityType, TombstoneRow } from '../../../db/schema/index.js';
import { forbidden, notFound } from '../../core/errors.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { lockFor } from '../locks.js';
import { iso } from '../time.js';

/** FR-062: only the newest three deletions of a user can be recovered, each for seven days. */
export const TOMBSTONES_KEPT = 3;
export const RECOVERY_WINDOW_DAYS = 7;

export interface NewTombstone {
  userId: string;
  entityType: TombstoneEntityType;
  entityId: string;
  title: string;
  snapshot: Record<string, unknown>;
}

/** Every column of a tombstone row, for statements that must not read `*` (db/columns.ts). */
const TOMBSTONE_COLUMNS = everyColumn<TombstoneRow>()(['id', 'user_id', 'entity_type', 'entity_id', 'title', 'snapshot', 'deleted_at', 'recoverable_until', 'created_at', 'updated_at']);

const insertTombstone = compileOnce(
  (v: { userId: string; entityType: TombstoneEntityType; entityId: string; title: string; snapshot: string; deletedAt: Date; recoverableUntil: Date }) =>
    shapeBuilder
      .insertInto('deletion_tombstones')
      .values({ user_id: v.userId, entity_type: v.entityType, entity_id: v.entityId, title: v.title, snapshot: v.snapshot, deleted_at: v.deletedAt, recoverable_until: v.recoverableUntil })
      .returning(TOMBSTONE_COLUMNS),
);

/** Drops the user's tombstones past the newest TOMBSTONES_KEPT. */
const dropOlderTombstones = compileOnce((v: { userId: string }) =>
  shapeBuilder
    .deleteFrom('deletion_tombstones')
    .where('user_id', '=', v.userId)
    .where('id', 'not in', shapeBuilder.selectFrom('deletion_tombstones').select('id').where('user_id', '=', v.userId).orderBy('deleted_at', 'desc').orderBy('created_at', 'desc').limit(TOMBSTONES_KEPT)),
);

/**
 * Writes a tombstone in the caller's (deleting) transaction and drops the user's older ones past
 * three. Tombstones are locked last (locks.ts): call it after the deleted row and its children.
 */
export async function writeTombstone(trx: Executor, t: NewTombstone, now = new Date()): Promise<TombstoneRow> {
  await lockFor(trx, 'tombstones', t.userId);
  const row = (
    await trx.executeQuery(
      insertTombstone({
        userId: t.userId,
        entityType: t.entityType,
        entityId: t.entityId,
        title: t.title.slice(0, 200),
        snapshot: JSON.stringify(t.snapshot),
        deletedAt: now,
        recoverableUntil: new Date(now.getTime() + RECOVERY_WINDOW_DAYS * 86_400_000),
      }),
    )
  ).rows[0]!;
  await trx.executeQuery(dropOlderTombstones({ userId: t.userId }));
  return row;
}

/**
 * Claims a tombstone for recovery: locks it, checks it is the caller's, of the expected kind and
 * still recoverable, and deletes it (the caller restores the entity in the same transaction).
 * Tombstones are locked last (locks.ts): the caller takes its limit lock ('active-tasks', 'notes')
 * before it, because a deletion may hold a task or note row and wait for this tombstone (to drop
 * it as the oldest) while a restore holding the limit lock waits for that row.
 */
export async function takeTombstone(trx: Executor, { userId, tombstoneId, entityType, now = new Date() }: { userId: string; tombstoneId: string; entityType: TombstoneEntityType; now?: Date }): Promise<TombstoneRow> {
  const row = await trx.selectFrom('deletion_tombstones').selectAll().where('id', '=', tombstoneId).forUpdate().executeTakeFirst();
  if (!row) throw notFound('Tombstone');
  if (row.user_id !== userId) throw forbidden();
  if (row.entity_type !== entityType || row.recoverable_until <= now) throw notFound('Tombstone');
  await trx.deleteFrom('deletion_tombstones').where('id', '=', row.id).execute();
  return row;
}

type Tombstone = components['schemas']['Tombstone'];

export const presentTombstone = (r: TombstoneRow): Tombstone => ({
  id: r.id,
  entity_type: r.entity_type,
  entity_id: r.entity_id,
  title: r.title,
  deleted_at: iso(r.deleted_at),
  recoverable_until: iso(r.recoverable_until),
});

/** The caller's recoverable tombstones, newest first. */
export async function listTombstones(db: Executor, { userId, page, now = new Date() }: { userId: string; page: PageParams; now?: Date }) {
  const rows = await db
    .selectFrom('deletion_tombstones')
    .selectAll()
    .where('user_id', '=', userId)
    .where('recoverable_until', '>', now)
    .orderBy('deleted_at', 'desc')
    .orderBy('id', 'desc')
    .offset(page.offset)
    .limit(page.limit)
    .execute();
  return toPage(rows, page, { present: presentTombstone, countAll: async () =>
    Number((await db.selectFrom('deletion_tombstones').select(db.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('recoverable_until', '>', now).executeTakeFirstOrThrow()).n) }
  );
}
