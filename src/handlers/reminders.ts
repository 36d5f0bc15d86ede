import { userActor } from '../domain/actor.js';
import { createReminder as create } from '../domain/reminders/create-reminder.js';
import { deleteReminder as remove } from '../domain/reminders/delete-reminder.js';
import { getReminder as get, listReminders as list } from '../domain/reminders/list-reminders.js';
import { updateReminder as update } from '../domain/reminders/update-reminder.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

export const createTaskReminder: Handler<'createTaskReminder'> = async (req, ctx) => {
  return { status: 201, body: { data: await create(ctx.deps.db, { actor: userActor(ctx), taskId: req.params.task_id, input: req.body }) } };
};

/** The production frontend's form: the task in the body. */
export const createReminder: Handler<'createReminder'> = async (req, ctx) => {
  const { task_id, ...reminder } = req.body;
  return { status: 201, body: { data: await create(ctx.deps.db, { actor: userActor(ctx), taskId: task_id, input: reminder }) } };
};

export const listTaskReminders: Handler<'listTaskReminders'> = async (req, ctx) => {
  const { offset, limit, fired } = req.query;
  return { status: 200, body: await list(ctx.deps.db, { userId: caller(ctx).userId, filter: { taskId: req.params.task_id, fired }, page: pageParams({ offset, limit }) }) };
};

export const listReminders: Handler<'listReminders'> = async (req, ctx) => {
  const { offset, limit, fired, task_id } = req.query;
  return { status: 200, body: await list(ctx.deps.db, { userId: caller(ctx).userId, filter: { taskId: task_id, fired }, page: pageParams({ offset, limit }) }) };
};

export const getReminder: Handler<'getReminder'> = async (req, ctx) => {
  return { status: 200, body: { data: await get(ctx.deps.db, caller(ctx).userId, req.params.reminder_id) } };
};

export const updateReminder: Handler<'updateReminder'> = async (req, ctx) => {
  return { status: 200, body: { data: await update(ctx.deps.db, { actor: userActor(ctx), reminderId: req.params.reminder_id, input: req.body }) } };
};

/** The production frontend updates reminders with PUT; same partial update as PATCH. */
export const replaceReminder: Handler<'replaceReminder'> = async (req, ctx) => {
  return { status: 200, body: { data: await update(ctx.deps.db, { actor: userActor(ctx), reminderId: req.params.reminder_id, input: req.body }) } };
};

export const deleteReminder: Handler<'deleteReminder'> = async (req, ctx) => {
  return { status: 200, body: { data: await remove(ctx.deps.db, userActor(ctx), req.params.reminder_id) } };
};
