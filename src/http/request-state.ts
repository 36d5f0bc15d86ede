import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/logging.js';
import type { Metrics } from './metrics.js';

/** What the HTTP layer learns about a request as it goes: for the log line, the metrics and error bodies. */
export interface RequestState {
  requestId: string;
  startedAt: bigint;
  operationId?: string;
  userId?: string;
  errorCode?: string;
  /** The Content-Type of a JSON answer other than application/json (problem types, downloads). */
  contentType?: string;
}

/** A request on its way through the API: the parts of the URL and the body, read once. */
export interface ApiRequest extends IncomingMessage {
  /** The path without the query string, not decoded. */
  path: string;
  query: Record<string, string | string[] | undefined>;
  /** The client's address, through the trusted proxies (TRUST_PROXY). */
  ip: string;
  body?: unknown;
  /** The exact bytes of the body, kept for signed webhooks. */
  rawBody?: Buffer;
}

const STATE = Symbol('requestState');
type Tracked = ServerResponse & { [STATE]?: RequestState };

export const requestState = (res: ServerResponse): RequestState => (res as Tracked)[STATE]!;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const QUIET = /^\/(api\/v1\/)?(health\/|metrics$)/;
/** The calendar feed's path holds its secret, the feed's only credential: logged as `pfcal_…`. */
const FEED_SECRET = /^(\/api\/v1\/calendar\/)[^/]+(\.ics\/*)$/;
const loggablePath = (path: string) => path.replace(FEED_SECRET, '$1pfcal_…$2');

/**
 * First step of every request: adopts the client's X-Request-ID when it is a UUID (else makes one),
 * echoes it, and when the response finishes writes one structured log line and the request metrics.
 */
export function requestTracker(log: Logger, metrics: Metrics): (req: IncomingMessage, res: ServerResponse, path: string) => RequestState {
  return (req, res, path) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && UUID.test(incoming) ? incoming.toLowerCase() : randomUUID();
    const state: RequestState = { requestId, startedAt: process.hrtime.bigint() };
    (res as Tracked)[STATE] = state;
    res.setHeader('X-Request-ID', requestId);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - state.startedAt) / 1e9;
      const operation = state.operationId ?? 'unmatched';
      metrics.requestDuration.observe({ operation, status: String(res.statusCode) }, seconds);
      if (state.errorCode) metrics.errors.inc({ operation, code: state.errorCode });
      const level = res.statusCode >= 500 ? 'error' : QUIET.test(path) ? 'debug' : 'info';
      if (!log.isLevelEnabled(level)) return;
      const line = {
        request_id: requestId,
        user_id: state.userId ?? null,
        operation,
        method: req.method,
        path: loggablePath(path),
        status: res.statusCode,
        duration_ms: Math.round(seconds * 1e6) / 1e3,
        ...(state.errorCode ? { error_code: state.errorCode } : {}),
      };
      log[level](line, res.statusCode >= 500 ? 'request failed' : 'request');
    });
    return state;
  };
}
