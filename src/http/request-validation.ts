import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { CONTRACT_SCHEMA_ID, contractAjv, type Contract } from '../core/contract.js';
import type { OperationId } from './operation.js';

/** What a request is validated as: the instance paths of errors start with these names (`/requestBody/title`, `/query/limit`). */
export interface RequestParts {
  path: Record<string, string>;
  query: Record<string, unknown>;
  header: IncomingHttpHeaders;
  /** Left out when the request has no JSON body, so a required body is reported missing. */
  requestBody?: unknown;
}

export interface RequestValidation {
  /** Ajv's errors, or null when the request is valid. Query and path values are coerced in place to their declared types. */
  validate(operationId: OperationId, parts: RequestParts): ErrorObject[] | null;
}

/** `#/components/...` as seen from a schema outside the contract: a reference into the contract schema Ajv holds. */
function retarget(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(retarget);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${CONTRACT_SCHEMA_ID}${v}` : retarget(v);
  return out;
}

/**
 * Each operation's request validators, compiled from the contract on its first request: one for the
 * JSON body, one (coercing strings to the declared types) for the path, query and header
 * parameters. Path and query parameters are closed sets; headers may carry anything else.
 */
export function createRequestValidation(contract: Contract): RequestValidation {
  const doc = contract.document;
  const bodyAjv = contractAjv(contract);
  const paramsAjv = contractAjv(contract, { coerceTypes: true });
  const resolve = (node: any): any => (typeof node?.$ref === 'string' ? resolve(node.$ref.slice(2).split('/').reduce((o: any, k: string) => o?.[k], doc)) : node);

  interface Compiled {
    body?: ValidateFunction;
    params: ValidateFunction;
  }
  const compiled = new Map<OperationId, Compiled>();

  const compile = (operationId: OperationId): Compiled => {
    const info = contract.operations.get(operationId);
    if (!info) throw new Error(`no operation ${operationId} in the contract`);
    const item = doc.paths[info.path];
    const op = item[info.method.toLowerCase()];
    const parameters: any[] = [...(op.parameters ?? []), ...(item.parameters ?? [])].map(resolve);

    const section = (additionalProperties: boolean) => ({ type: 'object', additionalProperties, properties: {} as Record<string, unknown>, required: [] as string[] });
    const sections: Record<string, ReturnType<typeof section>> = { path: section(false), query: section(false), header: section(true) };
    const required = new Set<string>();
    for (const p of parameters) {
      const target = sections[p.in]!;
      const name = p.in === 'header' ? String(p.name).toLowerCase() : p.name;
      target.properties[name] = retarget(p.schema);
      if (p.required && !target.required.includes(name)) {
        target.required.push(name);
        required.add(p.in);
      }
    }
    const params = paramsAjv.compile({ type: 'object', properties: sections, required: [...required] });

    let body: ValidateFunction | undefined;
    const requestBody = resolve(op.requestBody);
    const bodySchema = requestBody?.content?.['application/json']?.schema;
    if (bodySchema) {
      body = bodyAjv.compile({
        type: 'object',
        properties: { requestBody: retarget(bodySchema) },
        required: requestBody.required === true ? ['requestBody'] : [],
      });
    }
    const c = { body, params };
    compiled.set(operationId, c);
    return c;
  };

  const get = (operationId: OperationId) => compiled.get(operationId) ?? compile(operationId);

  return {
    validate(operationId, parts) {
      const c = get(operationId);
      let errors: ErrorObject[] | null = null;
      if (c.body && !c.body(parts)) errors = [...c.body.errors!];
      if (!c.params(parts)) errors = [...(errors ?? []), ...c.params.errors!];
      return errors;
    },
  };
}
