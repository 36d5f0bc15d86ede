import { randomUUID } from 'node:crypto';
import type { TestApp } from './app.js';
import type { TestClient } from './client.js';

export interface TestUser {
  id: string;
  email: string;
  token: string;
  refreshToken: string;
  /** A client that sends this user's token. */
  api: TestClient;
}

/** Signs a new user in through the development sign-in. */
export async function signUp(t: TestApp, opts: { email?: string; name?: string; tier?: 'free' | 'pro' } = {}): Promise<TestUser> {
  const email = opts.email ?? `user-${randomUUID().slice(0, 8)}@example.com`;
  const res = await t.api.post('/auth/dev/login', { email, ...(opts.name ? { name: opts.name } : {}) });
  if (res.status !== 200) throw new Error(`dev login failed: ${res.status} ${res.text}`);
  const user: TestUser = {
    id: res.body.user.id,
    email,
    token: res.body.access_token,
    refreshToken: res.body.refresh_token,
    api: t.api.as(res.body.access_token),
  };
  if (opts.tier === 'pro') await t.db.updateTable('users').set({ tier: 'pro' }).where('id', '=', user.id).execute();
  return user;
}
