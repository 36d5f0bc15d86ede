import { loadContract, type OperationInfo } from '../../src/core/contract.js';

// The operations of openapi.yaml as the generated suites see them (tests/authz, tests/fuzz): what
// each takes in its path, query, headers and body, with the contract's own examples. A new
// operation in the contract is picked up by every suite built on this list.

export const contract = loadContract();
export const doc = contract.document;

/** Follows local `$ref`s (`#/components/...`) to the object they point at. */
export const resolveRef = (o: any): any =>
  o && typeof o.$ref === 'string' ? resolveRef(o.$ref.slice(2).split('/').reduce((a: any, k: string) => a[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc)) : o;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: any;
  example: unknown;
}

export interface Operation {
  info: OperationInfo;
  id: string;
  def: any;
  params: Parameter[];
  pathParams: string[];
  queryParams: { name: string; required: boolean; example: unknown }[];
  /** The JSON request body's schema (as written, `$ref`s included); undefined without a body. */
  bodySchema?: any;
  bodyRequired: boolean;
  /** The request bodies of the contract's examples (none for an operation without a body). */
  examples: { name: string; value: unknown }[];
  websocket: boolean;
}

export const operations: Operation[] = [...contract.operations.values()].map((info) => {
  const item = doc.paths[info.path];
  const def = item[info.method.toLowerCase()];
  const params: Parameter[] = [...(item.parameters ?? []), ...(def.parameters ?? [])].map(resolveRef).map((p) => ({
    name: p.name,
    in: p.in,
    required: p.required === true,
    schema: p.schema ?? {},
    example: p.example ?? p.schema?.example,
  }));
  const requestBody = def.requestBody ? resolveRef(def.requestBody) : undefined;
  const media = requestBody?.content?.['application/json'];
  const examples = Object.entries<any>(media?.examples ?? {}).map(([name, e]) => ({ name, value: resolveRef(e).value }));
  if (media && !examples.length && media.example !== undefined) examples.push({ name: 'example', value: media.example });
  return {
    info,
    id: info.operationId,
    def,
    params,
    pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
    queryParams: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, required: p.required, example: p.example })),
    bodySchema: media?.schema,
    bodyRequired: requestBody?.required === true,
    examples,
    websocket: Boolean(def['x-websocket-messages']),
  };
});

/** The error codes an operation's documented response for `status` shows in its examples. */
export function documentedCodes(op: Operation, status: string): string[] {
  const response = resolveRef(op.def.responses?.[status]);
  const examples = response?.content?.['application/json']?.examples ?? {};
  return Object.values<any>(examples).map((e) => resolveRef(e).value?.error?.code).filter(Boolean);
}
