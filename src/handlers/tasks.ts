import { userActor } from '../domain/actor.js';
import { listTombstones as listTombstoneRows } from '../domain/recovery/tombstones.js';
import { createTask as create } from '../domain/tasks/create-task.js';
import { deleteTask as remove } from '../domain/tasks/delete-task.js';
import { forceCompleteTask as forceComplete } from '../domain/tasks/force-complete-task.js';
import { getTaskDetail } from '../domain/tasks/get-task.js';
import { listTasks as list } from '../domain/tasks/list-tasks.js';
import { recoverTask as recover } from '../domain/tasks/recover-task.js';
import { updateTask as update } from '../domain/tasks/update-task.js';
import { etag, ifMatchVersion } from '../http/etag.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

/** `unlocked_achievements` beside `data`, only when the request unlocked something (US9-AS4). */
const unlocked = <T>(list: T[]) => (list.length > 0 ? { unlocked_achievements: list } : {});

export const listTasks: Handler<'listTasks'> = async (req, ctx) => {
  const { offset, limit, ...filters } = req.query;
  return { status: 200, body: await list(ctx.deps.db, { userId: caller(ctx).userId, filter: filters, page: pageParams({ offset, limit }) }) };
};

export const createTask: Handler<'createTask'> = async (req, ctx) => {
  const r = await create(ctx.deps.db, userActor(ctx), req.body);
  return { status: 201, body: { data: r.task }, headers: etag(r.task.version) };
};

export const getTask: Handler<'getTask'> = async (req, ctx) => {
  const task = await getTaskDetail(ctx.deps.db, caller(ctx).userId, req.params.task_id);
  return { status: 200, body: { data: task }, headers: etag(task.version) };
};

export const updateTask: Handler<'updateTask'> = async (req, ctx) => {
  const r = await update(ctx.deps.db, { actor: userActor(ctx), taskId: req.params.task_id, input: req.body, opts: { ifMatch: ifMatchVersion(req.headers['if-match']) } });
  return { status: 200, body: { data: r.task, ...unlocked(r.unlockedAchievements) }, headers: etag(r.task.version) };
};

export const forceCompleteTask: Handler<'forceCompleteTask'> = async (req, ctx) => {
  const r = await forceComplete(ctx.deps.db, { actor: userActor(ctx), taskId: req.params.task_id, version: req.body.version, ifMatch: ifMatchVersion(req.headers['if-match']) });
  return {
    status: 200,
    body: { data: { task: r.task, unlocked_achievements: r.unlockedAchievements, streak: r.streak } },
    headers: etag(r.task.version),
  };
};

export const deleteTask: Handler<'deleteTask'> = async (req, ctx) => {
  return { status: 200, body: { data: await remove(ctx.deps.db, userActor(ctx), req.params.task_id) } };
};

export const listTombstones: Handler<'listTombstones'> = async (req, ctx) => {
  return { status: 200, body: await listTombstoneRows(ctx.deps.db, { userId: caller(ctx).userId, page: pageParams(req.query) }) };
};

export const recoverTask: Handler<'recoverTask'> = async (req, ctx) => {
  const task = await recover(ctx.deps.db, userActor(ctx), req.params.tombstone_id);
  return { status: 200, body: { data: task }, headers: etag(task.version) };
};
