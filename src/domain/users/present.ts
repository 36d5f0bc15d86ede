import type { components } from '../../../codegen/api.js';
import type { UserRow } from '../../../db/schema/index.js';
import { iso } from '../time.js';

type User = components['schemas']['User'];
type AuthUser = components['schemas']['AuthUser'];

export const presentUser = (u: UserRow): User => ({
  id: u.id,
  google_id: u.google_id,
  email: u.email,
  name: u.name,
  avatar_url: u.avatar_url,
  timezone: u.timezone,
  tier: u.tier,
  created_at: iso(u.created_at),
  updated_at: iso(u.updated_at),
});

export const presentAuthUser = (u: UserRow): AuthUser => ({
  id: u.id,
  email: u.email,
  name: u.name,
  avatar_url: u.avatar_url,
  tier: u.tier,
  created_at: iso(u.created_at),
});
