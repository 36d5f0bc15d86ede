import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

// The peer's schemas come from the same contract as ours: the querystring schema from listTasks'
// parameters, the response schema from its 200 response, every `$ref` written out in place, as a
// team generating its route schemas from an OpenAPI document would do.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

type Json = Record<string, any>;

/** A copy of `node` with every local `$ref` replaced by what it points at (sibling keys kept). */
function inline(doc: Json, node: unknown): any {
  if (Array.isArray(node)) return node.map((n) => inline(doc, n));
  if (!node || typeof node !== 'object') return node;
  const { $ref, ...rest } = node as Json;
  const out: Json = {};
  if (typeof $ref === 'string') {
    if (!$ref.startsWith('#/')) throw new Error(`peer contract: only local $refs are supported (${$ref})`);
    const target = $ref.slice(2).split('/').reduce<any>((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    if (target === undefined) throw new Error(`peer contract: ${$ref} not found`);
    Object.assign(out, inline(doc, target));
  }
  for (const [k, v] of Object.entries(rest)) out[k] = inline(doc, v);
  return out;
}

export interface RouteSchemas {
  querystring: Json;
  response200: Json;
}

/** The route schemas of `operationId` (a GET with query parameters and a JSON 200). */
export function routeSchemas(operationId = 'listTasks', file = path.join(root, 'openapi.yaml')): RouteSchemas {
  const doc = parse(fs.readFileSync(file, 'utf8')) as Json;
  for (const item of Object.values<Json>(doc.paths)) {
    const op = item.get as Json | undefined;
    if (op?.operationId !== operationId) continue;
    const params = inline(doc, [...(item.parameters ?? []), ...(op.parameters ?? [])]) as Json[];
    const query = params.filter((p) => p.in === 'query');
    return {
      querystring: {
        type: 'object',
        properties: Object.fromEntries(query.map((p) => [p.name, p.schema])),
        required: query.filter((p) => p.required).map((p) => p.name),
      },
      response200: inline(doc, op.responses['200'].content['application/json'].schema),
    };
  }
  throw new Error(`peer contract: no GET operation ${operationId} in ${file}`);
}
