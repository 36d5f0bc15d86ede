import type { OperationInfo } from '../../core/contract.js';
import { AppError } from '../errors.js';
import { hasBodyBytes, isJson } from '../json-body.js';
import type { ApiRequest } from '../request-state.js';

/** Step 2: a body in anything but JSON, sent to an operation that takes one, is a 415. */
export function checkMediaType(req: ApiRequest, info: Pick<OperationInfo, 'hasBody'>): void {
  if (hasBodyBytes(req) && !isJson(req) && info.hasBody) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
  }
}
