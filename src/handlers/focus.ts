import { userActor } from '../domain/actor.js';
import {
  activeFocusSession,
  endFocusSession as endSession,
  endFocusSessionById as endSessionById,
  listFocusSessions as list,
  presentFocusSession,
  startFocusSession as startSession,
} from '../domain/focus/focus-sessions.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

export const startFocusSession: Handler<'startFocusSession'> = async (req, ctx) => {
  const session = await startSession(ctx.deps.db, { actor: userActor(ctx), taskId: req.body.task_id });
  return { status: 201, body: { data: presentFocusSession(session) } };
};

export const endFocusSession: Handler<'endFocusSession'> = async (req, ctx) => {
  const session = await endSession(ctx.deps.db, { actor: userActor(ctx), taskId: req.body.task_id });
  return { status: 200, body: { data: presentFocusSession(session) } };
};

/** The production frontend's path for startFocusSession. */
export const createFocusSession: Handler<'createFocusSession'> = async (req, ctx) => {
  const session = await startSession(ctx.deps.db, { actor: userActor(ctx), taskId: req.body.task_id });
  return { status: 201, body: { data: presentFocusSession(session) } };
};

export const endFocusSessionById: Handler<'endFocusSessionById'> = async (req, ctx) => {
  const session = await endSessionById(ctx.deps.db, { actor: userActor(ctx), sessionId: req.params.focus_session_id });
  return { status: 200, body: { data: presentFocusSession(session) } };
};

export const getActiveFocusSession: Handler<'getActiveFocusSession'> = async (_req, ctx) => {
  return { status: 200, body: { data: await activeFocusSession(ctx.deps.db, caller(ctx).userId) } };
};

export const listFocusSessions: Handler<'listFocusSessions'> = async (req, ctx) => {
  return { status: 200, body: await list(ctx.deps.db, { userId: caller(ctx).userId, filter: {}, page: pageParams(req.query) }) };
};

export const listTaskFocusSessions: Handler<'listTaskFocusSessions'> = async (req, ctx) => {
  return { status: 200, body: await list(ctx.deps.db, { userId: caller(ctx).userId, filter: { taskId: req.params.task_id }, page: pageParams(req.query) }) };
};
