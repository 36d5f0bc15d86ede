import { notImplemented } from './errors.js';
import type { Handler, OperationId } from './operation.js';

/** A handler for an operation that is specified but not built: 501 NOT_IMPLEMENTED, never a fake success. */
export type NotYetHandler<O extends OperationId> = Handler<O> & { notImplementedIssue: number };

export function notYet<O extends OperationId>(_operationId: O, issue: number): NotYetHandler<O> {
  const handler = async () => {
    throw notImplemented(issue);
  };
  return Object.assign(handler, { notImplementedIssue: issue }) as NotYetHandler<O>;
}

export const isNotYet = (h: unknown): h is NotYetHandler<OperationId> =>
  typeof h === 'function' && typeof (h as { notImplementedIssue?: unknown }).notImplementedIssue === 'number';
