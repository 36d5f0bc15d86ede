import type { ActivitySource } from '../../db/schema/index.js';

/** Who is doing something, for rules, the activity log and events. */
export interface Actor {
  userId: string;
  /** `ai` when the change comes from a confirmed AI action (FR-034), `system` for jobs. */
  source: ActivitySource;
  requestId: string | null;
}

export const userActor = (ctx: { auth: { userId: string } | null; requestId: string }): Actor => {
  if (!ctx.auth) throw new Error('userActor needs an authenticated request');
  return { userId: ctx.auth.userId, source: 'user', requestId: ctx.requestId };
};
