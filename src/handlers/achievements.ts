import { listAchievementDefinitions } from '../domain/achievements/definitions.js';
import { getMyAchievements as getMine } from '../domain/achievements/get-my-achievements.js';
import { assertOwnUser } from '../domain/users/own-user.js';
import { pageParams } from '../core/pagination.js';
import { caller, type Handler } from '../http/operation.js';

export const listAchievements: Handler<'listAchievements'> = async (req, ctx) => {
  return { status: 200, body: await listAchievementDefinitions(ctx.deps.db, pageParams(req.query)) };
};

export const getMyAchievements: Handler<'getMyAchievements'> = async (_req, ctx) => {
  const data = await getMine(ctx.deps.db, { settings: ctx.deps.config, userId: caller(ctx).userId });
  return { status: 200, body: { data } };
};

/** The production frontend's path for getMyAchievements: the caller's own id only. */
export const getUserAchievements: Handler<'getUserAchievements'> = async (req, ctx) => {
  assertOwnUser(caller(ctx).userId, req.params.user_id);
  const data = await getMine(ctx.deps.db, { settings: ctx.deps.config, userId: caller(ctx).userId });
  return { status: 200, body: { data } };
};
