import type { ServerResponse } from 'node:http';
import type { StoredResponse } from '../idempotency.js';
import type { StreamReplayer, StreamReply } from '../operation.js';

/**
 * The answer with its JSON text written by `serialize` (compiled from the contract's response
 * schema), for a success with a JSON body; anything else is left to JSON.stringify in writeStored.
 * The text is kept with the answer, so an idempotent one stores (and a replay sends) the same text.
 */
export function withBodyText(r: StoredResponse, serialize: ((body: unknown) => string) | undefined): StoredResponse {
  if (!serialize || r.status >= 300 || r.status === 204 || r.body === undefined || typeof r.body === 'string' || r.bodyText !== undefined) return r;
  r.bodyText = serialize(r.body);
  return r;
}

/** Writes one answer: status, its headers, and a JSON (or `contentType`) body with its length. */
export function writeStored(res: ServerResponse, r: StoredResponse, contentType = 'application/json; charset=utf-8'): void {
  res.statusCode = r.status;
  for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  if (r.body === undefined || r.status === 204) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', contentType);
  const text = r.bodyText ?? (typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
  res.setHeader('Content-Length', Buffer.byteLength(text)); // also on HEAD, where Node sends no body
  res.end(text);
}

/**
 * Step 8: writes the answer. A replay says so (`Idempotent-Replayed`), and an operation that streams
 * may render a stored success as its stream again for a client that asks for one.
 */
export function writeAnswer(
  res: ServerResponse,
  answer: StoredResponse & { replayed?: boolean },
  { requestHeaders, replayStream, contentType }: { requestHeaders: Record<string, string | undefined>; replayStream?: StreamReplayer; contentType?: string },
): void {
  if (answer.replayed) {
    res.setHeader('Idempotent-Replayed', 'true');
    if (answer.status < 300 && replayStream?.(answer, requestHeaders, res)) return;
  }
  writeStored(res, answer, contentType);
}

/** Step 8, for a stream outside an idempotent claim: written, then ended. */
export async function writeStream(res: ServerResponse, reply: StreamReply): Promise<void> {
  await reply.write(res);
  if (!res.writableEnded) res.end();
}
