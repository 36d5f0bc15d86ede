import { userActor } from '../domain/actor.js';
import { insertSubtasks } from '../domain/subtasks/create-subtasks.js';
import { deleteSubtask as remove } from '../domain/subtasks/delete-subtask.js';
import { listSubtasks as list } from '../domain/subtasks/list-subtasks.js';
import { reorderSubtasks as reorder } from '../domain/subtasks/reorder-subtasks.js';
import { updateSubtask as update } from '../domain/subtasks/update-subtask.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

export const listSubtasks: Handler<'listSubtasks'> = async (req, ctx) => {
  return { status: 200, body: await list(ctx.deps.db, { userId: caller(ctx).userId, taskId: req.params.task_id, page: pageParams(req.query) }) };
};

export const createSubtask: Handler<'createSubtask'> = async (req, ctx) => {
  const r = await insertSubtasks(ctx.deps.db, { actor: userActor(ctx), taskId: req.params.task_id, titles: [req.body.title], source: 'user', at: req.body.order_index });
  return { status: 201, body: { data: r.subtasks[0]! } };
};

export const reorderSubtasks: Handler<'reorderSubtasks'> = async (req, ctx) => {
  return { status: 200, body: await reorder(ctx.deps.db, { actor: userActor(ctx), taskId: req.params.task_id, subtaskIds: req.body.subtask_ids }) };
};

export const updateSubtask: Handler<'updateSubtask'> = async (req, ctx) => {
  const r = await update(ctx.deps.db, { actor: userActor(ctx), subtaskId: req.params.subtask_id, input: req.body });
  return { status: 200, body: { data: r.subtask, ...(r.unlockedAchievements.length > 0 ? { unlocked_achievements: r.unlockedAchievements } : {}) } };
};

/** The production frontend toggles subtasks with PUT; same partial update as PATCH. */
export const replaceSubtask: Handler<'replaceSubtask'> = async (req, ctx) => {
  const r = await update(ctx.deps.db, { actor: userActor(ctx), subtaskId: req.params.subtask_id, input: req.body });
  return { status: 200, body: { data: r.subtask, ...(r.unlockedAchievements.length > 0 ? { unlocked_achievements: r.unlockedAchievements } : {}) } };
};

/** The production frontend's useCompleteSubtask: updateSubtask with {completed: true}. */
export const completeSubtask: Handler<'completeSubtask'> = async (req, ctx) => {
  const r = await update(ctx.deps.db, { actor: userActor(ctx), subtaskId: req.params.subtask_id, input: { completed: true } });
  return { status: 200, body: { data: r.subtask, ...(r.unlockedAchievements.length > 0 ? { unlocked_achievements: r.unlockedAchievements } : {}) } };
};

export const deleteSubtask: Handler<'deleteSubtask'> = async (req, ctx) => {
  return { status: 200, body: { data: await remove(ctx.deps.db, userActor(ctx), req.params.subtask_id) } };
};
