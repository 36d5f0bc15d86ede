import { presentUser } from '../domain/users/present.js';
import { findUserById } from '../domain/users/queries.js';
import { updateProfile } from '../domain/users/update-profile.js';
import { unauthorized } from '../http/errors.js';
import { caller, type Handler } from '../http/operation.js';

export const getCurrentUser: Handler<'getCurrentUser'> = async (_req, ctx) => {
  const user = await findUserById(ctx.deps.db, caller(ctx).userId);
  // A valid token for a deleted account: the session is over.
  if (!user) throw unauthorized('The account no longer exists');
  return { status: 200, body: { data: presentUser(user) } };
};

export const updateCurrentUser: Handler<'updateCurrentUser'> = async (req, ctx) => {
  const user = await updateProfile(ctx.deps.db, caller(ctx).userId, req.body, { requestId: ctx.requestId });
  return { status: 200, body: { data: presentUser(user) } };
};
