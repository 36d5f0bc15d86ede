import type { ServerResponse } from 'node:http';
import { AppError } from '../errors.js';
import type { RouteMatch } from '../operation-router.js';

export type OperationMatch = Extract<RouteMatch, { kind: 'operation' }>;
export type Router = (method: string, path: string) => RouteMatch;

/**
 * Step 1: the request's operation and path parameters, or the 404 / 405 (with `Allow`) it gets.
 * HEAD is GET without the body (Node drops what is written): same operation, status and headers.
 */
export function routeRequest(route: Router, req: { method?: string; path: string }, res: ServerResponse): OperationMatch {
  const match = route(req.method === 'HEAD' ? 'GET' : req.method!, req.path);
  if (match.kind === 'not-found') throw new AppError('NOT_FOUND', `No operation at ${req.method} ${req.path}`);
  if (match.kind === 'method-not-allowed') {
    res.setHeader('Allow', match.allow.join(', '));
    throw new AppError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}`);
  }
  return match;
}
