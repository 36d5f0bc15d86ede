import type { OperationInfo } from '../../core/contract.js';
import { assertStorableJson } from '../body-guard.js';
import { AppError, validationError, type ErrorDetail } from '../errors.js';
import type { OperationId, OperationRequest } from '../operation.js';
import type { ApiRequest } from '../request-state.js';
import type { RequestParts, RequestValidation } from '../request-validation.js';

/** The most details one 400 lists (a body with thousands of wrong values would otherwise echo each). */
export const MAX_DETAILS = 100;

const WHERE: Record<string, string> = { requestBody: 'body', query: 'query', path: 'path', header: 'header' };

/** Ajv errors as `{field, message}` details: `body.title`, `query.limit`, `path.task_id`, `header.if-match`. */
export function toDetails(errors: any[]): ErrorDetail[] {
  const seen = new Set<string>();
  const details: ErrorDetail[] = [];
  for (const e of errors) {
    const [, root = '', ...rest] = String(e.instancePath ?? '').split('/');
    const segments = [WHERE[root] ?? (root || 'body'), ...rest.map((s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~'))];
    let message = e.message ?? 'is invalid';
    if (root === '' && e.keyword === 'required' && e.params.missingProperty === 'requestBody') {
      // No body at all where one is required.
      details.push({ field: 'body', message: 'a JSON body is required' });
      continue;
    }
    if (e.keyword === 'required' || e.keyword === 'dependentRequired') segments.push(e.params.missingProperty);
    if (e.keyword === 'dependentRequired') message = `is required with ${e.params.property}`;
    if (e.keyword === 'additionalProperties') {
      segments.push(e.params.additionalProperty);
      message = 'is not allowed';
    }
    if (root === 'requestBody' && segments.length === 1 && e.keyword === 'required') message = 'a JSON body is required';
    // oneOf/if branches repeat the same complaint; keep one per field
    const field = segments.filter((s) => s !== undefined && s !== '').join('.');
    const key = `${field}|${message}`;
    if (seen.has(key) || e.keyword === 'oneOf' || e.keyword === 'if') continue;
    seen.add(key);
    details.push({ field, message });
    if (details.length === MAX_DETAILS) break;
  }
  return details.length ? details : [{ field: 'body', message: 'is invalid' }];
}

function isIdempotencyKeyMissing(errors: any[]): boolean {
  return errors.some((e) => e.keyword === 'required' && e.instancePath === '/header' && e.params?.missingProperty === 'idempotency-key');
}

const isEmptyObject = (body: unknown) => typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0;

/**
 * Step 5: the request checked against its operation in the contract (a 400 VALIDATION_ERROR with
 * details, or IDEMPOTENCY_KEY_REQUIRED), returned as the handler will see it: query and path values coerced to their
 * declared types. First what validation would choke on, and what PostgreSQL cannot store.
 */
export function validateRequest(
  validation: RequestValidation,
  info: Pick<OperationInfo, 'operationId' | 'hasBody'>,
  { req, params }: { req: ApiRequest; params: Record<string, string> },
): OperationRequest<OperationId> {
  const body: unknown = req.body;
  assertStorableJson(body);

  const contentType = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const parts: RequestParts = { path: params, query: { ...req.query }, header: req.headers };
  // A body is validated when one was sent as JSON; without one, a required body is reported missing.
  if (typeof body === 'object' || contentType === 'application/json') parts.requestBody = body;
  const errors = validation.validate(info.operationId, parts);
  if (errors) {
    if (isIdempotencyKeyMissing(errors)) {
      throw new AppError('IDEMPOTENCY_KEY_REQUIRED', 'This request needs an Idempotency-Key header', { details: [{ field: 'header.idempotency-key', message: 'is required' }] });
    }
    throw validationError(toDetails(errors));
  }
  if (!info.hasBody && body !== undefined && !isEmptyObject(body)) {
    throw validationError([{ field: 'body', message: 'this operation takes no body' }]);
  }
  return {
    body: body as never,
    params: parts.path as never,
    query: parts.query as never,
    headers: req.headers as Record<string, string | undefined>,
    rawBody: req.rawBody,
  };
}
