import type { Executor } from '../../../db/index.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { presentNote } from './present.js';

/** The user's notes, newest first; `archived` undefined lists all of them. */
export async function listNotes(db: Executor, { userId, filter, page }: { userId: string; filter: { archived?: boolean }; page: PageParams }) {
  let q = db.selectFrom('notes').selectAll().where('user_id', '=', userId);
  if (filter.archived !== undefined) q = q.where('archived', '=', filter.archived);
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute();
  return toPage(rows, page, { present: presentNote, countAll: async () => {
    let c = db.selectFrom('notes').select(db.fn.countAll<number>().as('n')).where('user_id', '=', userId);
    if (filter.archived !== undefined) c = c.where('archived', '=', filter.archived);
    return Number((await c.executeTakeFirstOrThrow()).n);
  } });
}
