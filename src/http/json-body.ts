import type { ServerResponse } from 'node:http';
import { assertUtf8 } from './body-guard.js';
import { AppError, validationError } from './errors.js';
import type { ApiRequest } from './request-state.js';

/** The request announces body bytes (a length above 0, or a chunked body). */
export const hasBodyBytes = (req: ApiRequest) =>
  Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
/** application/json or application/<anything>+json. */
export const isJson = (req: ApiRequest) => /^application\/([\w.+-]+\+)?json\b/i.test(String(req.headers['content-type'] ?? ''));

export interface JsonBodyOptions {
  limit: number;
  /** Requests whose exact bytes the handler needs (signed webhooks): kept in `req.rawBody`. */
  keepRaw: (req: ApiRequest) => boolean;
}

/**
 * Reads and parses a JSON body into `req.body` (nothing to read, or not JSON: left undefined, and
 * the dispatcher answers 415 where a body is required). Unlike body-parser, a body over the limit
 * is answered with 413 at once and the connection closed: body-parser reads (and discards) the
 * rest of the body before it answers, so a client that announces 50 MB, or streams chunks forever,
 * held the socket until the request timeout and then got a 408 instead of the 413.
 */
export async function readJsonBody(req: ApiRequest, res: ServerResponse, { limit, keepRaw }: JsonBodyOptions): Promise<void> {
  if (!hasBodyBytes(req) || !isJson(req)) return;
  return new Promise((resolve, reject) => {
    const next = (err?: unknown) => (err === undefined ? resolve() : reject(err));
    const tooLarge = () => {
      res.setHeader('Connection', 'close');
      req.pause();
      return next(new AppError('PAYLOAD_TOO_LARGE', `Request body exceeds ${limit} bytes`));
    };
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') return next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body without Content-Encoding'));
    const charset = /;\s*charset=("?)([^";]+)\1/i.exec(req.headers['content-type'] ?? '')?.[2]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') return next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as UTF-8 JSON'));
    const declared = Number(req.headers['content-length']);
    if (declared > limit) return tooLarge();

    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const cleanup = () => {
      settled = true;
      req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        cleanup();
        tooLarge();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      try {
        const raw = Buffer.concat(chunks, received);
        if (!Number.isNaN(declared) && raw.length !== declared) throw incomplete();
        assertUtf8(raw);
        if (keepRaw(req)) req.rawBody = raw;
        req.body = parse(raw.toString('utf8'));
      } catch (err) {
        return next(err);
      }
      next();
    };
    const onError = (err: Error) => {
      if (settled) return;
      cleanup();
      next(err);
    };
    // The client went away: nobody is left to answer.
    const onAborted = () => cleanup();
    req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
}

const incomplete = () => new AppError('VALIDATION_ERROR', 'The body was incomplete', { details: [{ field: 'body', message: 'is incomplete' }] });

/** JSON objects and arrays only (a bare `"x"` or `1` is refused); an empty body reads as `{}`, as body-parser's did. */
function parse(text: string): unknown {
  const start = /^[\s\uFEFF]*(.)/.exec(text)?.[1];
  if (start === undefined) return {};
  if (start !== '{' && start !== '[') throw notJson();
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw notJson();
  }
}

const notJson = () => validationError([{ field: 'body', message: 'is not valid JSON' }], 'The body is not valid JSON');
