import type { Executor } from '../../../db/index.js';
import type { LiveKeyCache, LiveKeys } from '../live-keys.js';
import { accountExists } from './queries.js';

/** Notified by a trigger on users (db/migrations/0015) with the id of every deleted account. */
export const ACCOUNT_DELETED_CHANNEL = 'account_deleted';

/** Which accounts exist, asked for every access token: a deleted account's tokens stop at once. */
export const defineLiveAccounts = (cache: LiveKeyCache, db: Executor): LiveKeys =>
  cache.define(ACCOUNT_DELETED_CHANNEL, (userId) => accountExists(db, userId));
