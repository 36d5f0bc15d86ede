import type { ServerResponse } from 'node:http';
import type { AuthContext } from '../../domain/auth/access-tokens.js';
import type { Database } from '../../../db/index.js';
import { withIdempotency, type StoredResponse } from '../idempotency.js';
import type { StreamReply } from '../operation.js';
import { accountGoneOr } from './run.js';

/** The answer was a stream, already written and ended under the key: nothing is left to write. */
export const STREAMED = Symbol('streamed');

export interface IdempotentCall {
  /** How long the answer is kept for a retry. */
  ttlHours: number;
  auth: AuthContext;
  key: string;
  method: string;
  path: string;
  body: unknown;
}

/**
 * Step 6: runs `execute` once per (user, Idempotency-Key) and replays its stored answer after
 * (409 while in flight, 422 for another request under the same key). A stream is written here,
 * inside the claim; its final JSON answer is what a retry with this key gets, and a failed stream
 * counts as a 5xx: the key is released.
 */
export async function runIdempotently(
  db: Database,
  call: IdempotentCall,
  { res, execute }: { res: ServerResponse; execute: () => Promise<StoredResponse | StreamReply> },
): Promise<(StoredResponse & { replayed?: boolean }) | typeof STREAMED> {
  let streamed = false;
  const request = { userId: call.auth.userId, key: call.key, method: call.method, path: call.path, body: call.body, ttlHours: call.ttlHours };
  const result = await withIdempotency(db, request, async () => {
    const r = await execute();
    if (r.status !== 'stream') return r as StoredResponse;
    streamed = true;
    const final = await (r as StreamReply).write(res);
    return final ? { status: final.status, body: final.body, headers: {} } : { status: 500, body: null, headers: {} };
  }).catch(async (err: unknown) => {
    throw await accountGoneOr(db, call.auth, err); // the key's row references the user too
  });
  if (!streamed) return result;
  // Ended only now, after the answer is stored: a retry can never find the key still in flight
  // once the client has seen the end of the stream.
  if (!res.writableEnded) res.end();
  return STREAMED;
}
