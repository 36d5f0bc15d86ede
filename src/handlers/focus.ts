import { userActor } from '../domain/actor.js';
import { endFocusSession as endSession, presentFocusSession, startFocusSession as startSession } from '../domain/focus/focus-sessions.js';
import type { Handler } from '../http/operation.js';

export const startFocusSession: Handler<'startFocusSession'> = async (req, ctx) => {
  const session = await startSession(ctx.deps.db, userActor(ctx), req.body.task_id);
  return { status: 201, body: { data: presentFocusSession(session) } };
};

export const endFocusSession: Handler<'endFocusSession'> = async (req, ctx) => {
  const session = await endSession(ctx.deps.db, userActor(ctx), req.body.task_id);
  return { status: 200, body: { data: presentFocusSession(session) } };
};
