import { deleteAccount } from '../domain/users/delete-account.js';
import { exportAccount, exportFileName } from '../domain/users/export-account.js';
import { presentUser } from '../domain/users/present.js';
import { findUserById } from '../domain/users/queries.js';
import { updateProfile } from '../domain/users/update-profile.js';
import { accountGone } from '../http/errors.js';
import { ClientGone, openJsonDownload } from '../http/json-download.js';
import { caller, type Handler } from '../http/operation.js';

export const getCurrentUser: Handler<'getCurrentUser'> = async (_req, ctx) => {
  const user = await findUserById(ctx.deps.db, caller(ctx).userId);
  // A valid token for a deleted account: the session is over.
  if (!user) throw accountGone();
  return { status: 200, body: { data: presentUser(user) } };
};

export const updateCurrentUser: Handler<'updateCurrentUser'> = async (req, ctx) => {
  const user = await updateProfile(ctx.deps.db, { userId: caller(ctx).userId, input: req.body, ctx: { requestId: ctx.requestId } });
  return { status: 200, body: { data: presentUser(user) } };
};

export const deleteCurrentUser: Handler<'deleteCurrentUser'> = async (req, ctx) => {
  const { id } = await deleteAccount(ctx.deps.db, { userId: caller(ctx).userId, confirm: req.body.confirm });
  // other processes hear of it from the database; this one must not wait for that
  ctx.deps.liveAccounts.forget(id);
  return { status: 200, body: { data: { id, deleted: true } } };
};

/** Streamed (the document can be large): written through the dispatcher's StreamReply. */
export const exportCurrentUser: Handler<'exportCurrentUser'> = async (_req, ctx) => {
  const userId = caller(ctx).userId;
  const now = new Date();
  return {
    status: 'stream',
    async write(res) {
      const download = openJsonDownload(res, exportFileName(now));
      try {
        await exportAccount(ctx.deps.db, { settings: ctx.deps.config, userId, out: (chunk) => download.write(chunk), now });
        await download.end();
      } catch (err) {
        if (err instanceof ClientGone) return null;
        throw err;
      }
      return null;
    },
  };
};
