import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';

/** What the HTTP layer learns about a request as it goes: for the log line, the metrics and error bodies. */
export interface RequestState {
  requestId: string;
  startedAt: bigint;
  operationId?: string;
  userId?: string;
  errorCode?: string;
}

export const requestState = (res: Response): RequestState => res.locals.state as RequestState;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const QUIET = /^\/(api\/v1\/)?(health\/|metrics$)/;

/**
 * First middleware: adopts the client's X-Request-ID when it is a UUID (else makes one), echoes it,
 * and when the response finishes writes one structured log line and the request metrics.
 */
export function requestTracking(log: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && UUID.test(incoming) ? incoming.toLowerCase() : randomUUID();
    const state: RequestState = { requestId, startedAt: process.hrtime.bigint() };
    res.locals.state = state;
    res.setHeader('X-Request-ID', requestId);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - state.startedAt) / 1e9;
      const operation = state.operationId ?? 'unmatched';
      metrics.requestDuration.observe({ operation, status: String(res.statusCode) }, seconds);
      if (state.errorCode) metrics.errors.inc({ operation, code: state.errorCode });
      const line = {
        request_id: requestId,
        user_id: state.userId ?? null,
        operation,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        duration_ms: Math.round(seconds * 1e6) / 1e3,
        ...(state.errorCode ? { error_code: state.errorCode } : {}),
      };
      if (res.statusCode >= 500) log.error(line, 'request failed');
      else if (QUIET.test(req.path)) log.debug(line, 'request');
      else log.info(line, 'request');
    });
    next();
  };
}
