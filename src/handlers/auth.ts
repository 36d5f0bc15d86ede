import { endSession, rotateSession, startSession } from '../domain/auth/sessions.js';
import { fromProvider } from '../domain/provider-failures.js';
import { presentAuthUser } from '../domain/users/present.js';
import { signInDevUser, signInGoogleUser } from '../domain/users/sign-in.js';
import { notFound } from '../http/errors.js';
import type { Handler } from '../http/operation.js';

export const signInWithGoogle: Handler<'signInWithGoogle'> = async (req, ctx) => {
  const { db, google, tokens } = ctx.deps;
  const identity = await fromProvider(() => google.verifyIdToken(req.body.id_token));
  const user = await signInGoogleUser(db, identity, { requestId: ctx.requestId, kickstartCredits: ctx.deps.config.KICKSTART_CREDITS });
  return { status: 200, body: { ...(await startSession(db, { issuer: tokens, user, liveSessions: ctx.deps.liveSessions })), user: presentAuthUser(user) } };
};

export const devLogin: Handler<'devLogin'> = async (req, ctx) => {
  const { db, tokens, config } = ctx.deps;
  if (!config.devLoginEnabled) throw notFound('Operation');
  const user = await signInDevUser(db, req.body, { requestId: ctx.requestId, kickstartCredits: config.KICKSTART_CREDITS });
  return { status: 200, body: { ...(await startSession(db, { issuer: tokens, user, liveSessions: ctx.deps.liveSessions })), user: presentAuthUser(user) } };
};

export const refreshSession: Handler<'refreshSession'> = async (req, ctx) => ({
  status: 200,
  body: await rotateSession(ctx.deps.db, { issuer: ctx.deps.tokens, refreshToken: req.body.refresh_token, liveSessions: ctx.deps.liveSessions }),
});

export const logout: Handler<'logout'> = async (req, ctx) => {
  await endSession(ctx.deps.db, req.body.refresh_token, ctx.deps.liveSessions);
  // A JSON body, not a 204: the frontend parses every answer as JSON.
  return { status: 200, body: { data: null } };
};

export const getJwks: Handler<'getJwks'> = async (_req, ctx) => ({ status: 200, body: { keys: ctx.deps.tokens.keys.jwks } });
