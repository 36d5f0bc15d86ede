import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { addContractFormats, loadContract } from '../../src/core/contract.js';
import { createOperationRouter } from '../../src/http/operation-router.js';

// Validates every response the tests see against openapi.yaml: the status must be documented for
// the operation, and the body must match the schema of that status and media type.

const contract = loadContract();
const doc = contract.document;

// oneOf + const decides; Ajv's discriminator option refuses the explicit mappings openapi-typescript needs.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addContractFormats(ajv); // the server's formats: a date-time outside 1970–9999 is not one
ajv.addSchema({ $id: 'openapi', components: doc.components }, 'openapi');

const resolve = (obj: any): any => {
  if (obj && typeof obj.$ref === 'string' && obj.$ref.startsWith('#/')) {
    return resolve(obj.$ref.slice(2).split('/').reduce((o: any, k: string) => o[k.replace(/~1/g, '/')], doc));
  }
  return obj;
};

/** Rewrites local refs so standalone schemas resolve against the document registered as `openapi`. */
const rebase = (schema: any): any => JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"openapi#/'));

/** The operation a request reaches, found by the server's own router (src/http/operation-router.ts). */
interface Route {
  method: string;
  template: string;
  operation: any;
}

// Paths here are relative to /api/v1 already: the router's root is the empty prefix.
const routeOf = createOperationRouter(contract, '');

const validators = new Map<string, ValidateFunction>();
function validatorFor(key: string, schema: any): ValidateFunction {
  let v = validators.get(key);
  if (!v) {
    v = ajv.compile(rebase(schema));
    validators.set(key, v);
  }
  return v;
}
const errorValidator = validatorFor('ErrorResponse', { $ref: '#/components/schemas/ErrorResponse' });

export function findOperation(method: string, apiPath: string): Route | undefined {
  const match = routeOf(method, apiPath);
  if (match.kind !== 'operation') return undefined;
  const info = contract.operations.get(match.operationId)!;
  return { method, template: info.path, operation: doc.paths[info.path][method.toLowerCase()] };
}

export class ContractViolation extends Error {}

/**
 * Throws ContractViolation when the response does not match the contract. `apiPath` is relative to
 * /api/v1 (query string removed).
 */
export function assertMatchesContract(method: string, apiPath: string, status: number, contentType: string | null, body: unknown): void {
  if (method === 'HEAD') {
    // HEAD answers as GET would, without the body (RFC 9110 §9.3.2): a status GET documents.
    if (body !== undefined && body !== '') throw new ContractViolation(`HEAD ${apiPath} → ${status}: HEAD answered with a body`);
    const get = findOperation('GET', apiPath);
    const documented = get ? Boolean(get.operation.responses?.[String(status)] ?? get.operation.responses?.default) : [400, 404, 405].includes(status);
    if (!documented) throw new ContractViolation(`HEAD ${apiPath} → ${status}: status ${status} is not documented for GET`);
    return;
  }
  const route = findOperation(method, apiPath);
  const where = `${method} ${apiPath} → ${status}`;
  if (!route) {
    // No operation: only the error envelope for 404/405 (or an OPTIONS preflight) is allowed.
    if (status === 404 || status === 405 || status === 400 || status === 413 || status === 415) {
      if (!errorValidator(body)) throw new ContractViolation(`${where}: error body does not match ErrorResponse: ${ajv.errorsText(errorValidator.errors)}`);
      return;
    }
    throw new ContractViolation(`${where}: no operation in the contract for this request`);
  }
  const responses = route.operation.responses ?? {};
  // A `default` response documents only the statuses its `x-statuses` names (the Idempotency-Key
  // mismatch 422, declared as `default` so that Prism's mock answers invalid requests with 400).
  const fallback = resolve(responses.default);
  const declared = responses[String(status)] ?? (fallback?.['x-statuses']?.includes(status) ? responses.default : undefined);
  if (!declared) throw new ContractViolation(`${where}: status ${status} is not documented for ${route.operation.operationId}`);
  const response = resolve(declared);
  const content = response.content as Record<string, any> | undefined;
  if (!content) {
    if (body !== undefined && body !== '') throw new ContractViolation(`${where}: the contract declares no body, got one`);
    return;
  }
  const mediaType = (contentType ?? '').split(';')[0]!.trim();
  const media = content[mediaType];
  if (!media) throw new ContractViolation(`${where}: content type ${mediaType || '(none)'} is not documented (${Object.keys(content).join(', ')})`);
  if (!mediaType.includes('json')) return;
  const validate = validatorFor(`${route.operation.operationId}:${status}:${mediaType}`, media.schema ?? {});
  if (!validate(body)) {
    throw new ContractViolation(`${where}: body does not match the contract (${route.operation.operationId}): ${ajv.errorsText(validate.errors, { separator: '; ' })}\n${JSON.stringify(body).slice(0, 2000)}`);
  }
}

export { contract };
