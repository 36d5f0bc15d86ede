import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Database, Executor } from '../../../db/index.js';
import type { FocusSessionRow } from '../../../db/schema/index.js';
import { DomainError, archived, conflict, forbidden, notFound } from '../../core/errors.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { lockFor } from '../locks.js';
import { ownedTask } from '../tasks/queries.js';
import { iso, isoOrNull } from '../time.js';

type FocusSession = components['schemas']['FocusSession'];

/** A session longer than this counts as this long: a forgotten timer must not make a focus completion. */
export const MAX_SESSION_SECONDS = 4 * 3600;

export const presentFocusSession = (s: FocusSessionRow): FocusSession => ({
  id: s.id,
  user_id: s.user_id,
  task_id: s.task_id,
  started_at: iso(s.started_at),
  ended_at: isoOrNull(s.ended_at),
  duration_seconds: s.duration_seconds,
  created_at: iso(s.created_at),
  updated_at: iso(s.updated_at),
});

/**
 * `POST /focus/start` (US12): opens a session on one of the caller's open, unarchived tasks at the
 * server's time. One open session per user: checked under the user's lock, and the partial unique
 * index enforces it in the database too.
 */
export async function startFocusSession(db: Database, { actor, taskId, now = new Date() }: { actor: Actor; taskId: string; now?: Date }): Promise<FocusSessionRow> {
  return db.transaction().execute(async (trx) => {
    await lockFor(trx, 'focus', actor.userId);
    // The task row before the session it references (locks.ts): a concurrent delete either ran
    // first (404) or waits for us and removes the session with the task.
    const task = await ownedTask(trx, { userId: actor.userId, taskId, opts: { forUpdate: true } });
    const open = await trx.selectFrom('focus_sessions').select('task_id').where('user_id', '=', actor.userId).where('ended_at', 'is', null).executeTakeFirst();
    if (open) throw conflict(`A focus session is already open on task ${open.task_id}; end it first`);
    if (task.archived) throw archived('This task is archived');
    if (task.completed) throw conflict('A completed task cannot be focused on');
    const session = await trx
      .insertInto('focus_sessions')
      .values({ user_id: actor.userId, task_id: taskId, started_at: now, created_at: now, updated_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(trx, { userId: actor.userId, entityType: 'task', entityId: taskId, action: 'focus_started', source: actor.source, requestId: actor.requestId, extra: { focus_session_id: session.id } });
    return session;
  });
}

/**
 * `POST /focus/end`: closes the caller's open session on the task, measures it (whole seconds,
 * capped at 4 hours) and adds it to the task's focus_time_seconds. The task's version is not
 * bumped: focus time is not an edit of its content.
 */
export async function endFocusSession(db: Database, { actor, taskId, now = new Date() }: { actor: Actor; taskId: string; now?: Date }): Promise<FocusSessionRow> {
  return db.transaction().execute(async (trx) => {
    await lockFor(trx, 'focus', actor.userId);
    // The task row before the session row, as deleting the task (which cascades to its sessions) takes them.
    await ownedTask(trx, { userId: actor.userId, taskId, opts: { forUpdate: true } });
    const open = await trx
      .selectFrom('focus_sessions')
      .selectAll()
      .where('user_id', '=', actor.userId)
      .where('task_id', '=', taskId)
      .where('ended_at', 'is', null)
      .forUpdate()
      .executeTakeFirst();
    if (!open) throw new DomainError('NOT_FOUND', 'There is no open focus session on this task');
    return closeSession(trx, { actor, open, now });
  });
}

/**
 * `POST /focus-sessions/{id}/end` (the frontend's hook): the same as `endFocusSession` for the
 * session named by its id. Another user's session is a 403; one already ended a 409.
 */
export async function endFocusSessionById(db: Database, { actor, sessionId, now = new Date() }: { actor: Actor; sessionId: string; now?: Date }): Promise<FocusSessionRow> {
  return db.transaction().execute(async (trx) => {
    const found = await trx.selectFrom('focus_sessions').select(['user_id', 'task_id']).where('id', '=', sessionId).executeTakeFirst();
    if (!found) throw notFound('Focus session');
    if (found.user_id !== actor.userId) throw forbidden();
    // The same lock order as endFocusSession: the user's focus lock, the task row, then the session.
    await lockFor(trx, 'focus', actor.userId);
    await ownedTask(trx, { userId: actor.userId, taskId: found.task_id, opts: { forUpdate: true } });
    const session = await trx.selectFrom('focus_sessions').selectAll().where('id', '=', sessionId).forUpdate().executeTakeFirst();
    if (!session) throw notFound('Focus session'); // its task was deleted meanwhile
    if (session.ended_at !== null) throw conflict('This focus session has already ended');
    return closeSession(trx, { actor, open: session, now });
  });
}

/** Ends an open session (locked by the caller): measures it and adds the time to its task. */
async function closeSession(trx: Executor, { actor, open, now }: { actor: Actor; open: FocusSessionRow; now: Date }): Promise<FocusSessionRow> {
  const duration = Math.min(MAX_SESSION_SECONDS, Math.max(0, Math.floor((now.getTime() - open.started_at.getTime()) / 1000)));
  const endedAt = now < open.started_at ? open.started_at : now;
  const session = await trx
    .updateTable('focus_sessions')
    .set({ ended_at: endedAt, duration_seconds: duration, updated_at: new Date() })
    .where('id', '=', open.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .updateTable('task_instances')
    .set({ focus_time_seconds: sql<number>`focus_time_seconds + ${duration}`, updated_at: new Date() })
    .where('id', '=', open.task_id)
    .execute();
  await recordActivity(trx, { userId: actor.userId, entityType: 'task', entityId: open.task_id, action: 'focus_ended', source: actor.source, requestId: actor.requestId, extra: { focus_session_id: session.id, duration_seconds: duration } });
  return session;
}

/** The caller's open session (`GET /focus-sessions/active`); 404 when none is open. */
export async function activeFocusSession(db: Executor, userId: string): Promise<FocusSession> {
  const open = await db.selectFrom('focus_sessions').selectAll().where('user_id', '=', userId).where('ended_at', 'is', null).executeTakeFirst();
  if (!open) throw new DomainError('NOT_FOUND', 'No focus session is open');
  return presentFocusSession(open);
}

/** The caller's sessions, or one of their tasks' (403/404 for the task), newest first. */
export async function listFocusSessions(db: Executor, { userId, filter, page }: { userId: string; filter: { taskId?: string }; page: PageParams }) {
  if (filter.taskId !== undefined) await ownedTask(db, { userId, taskId: filter.taskId });
  const base = db
    .selectFrom('focus_sessions')
    .where('user_id', '=', userId)
    .$if(filter.taskId !== undefined, (q) => q.where('task_id', '=', filter.taskId!));
  const rows = await base.selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute();
  return toPage(rows, page, { present: presentFocusSession, countAll: async () => Number((await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n) });
}
