import { isDeepStrictEqual } from 'node:util';
import fastJson from 'fast-json-stringify';
import type { Contract } from '../core/contract.js';
import type { OperationId } from './operation.js';

/** A JSON body's text. */
export type BodySerializer = (body: unknown) => string;

type Json = Record<string, any>;

/** Why a schema is left to JSON.stringify. */
class Unsupported extends Error {}

const SCALARS = new Set(['string', 'integer', 'number', 'boolean', 'null']);
const TYPES = new Set([...SCALARS, 'object', 'array']);
/** Keywords that only constrain a value (validation, documentation): nothing to serialize differently. */
const IGNORED = new Set([
  'description', 'title', 'example', 'examples', 'deprecated', 'readOnly', 'writeOnly', 'default', 'externalDocs', 'xml', '$comment',
  'enum', 'const', 'required', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'multipleOf', 'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties', 'contentMediaType', 'contentEncoding',
]);

/**
 * The schema fast-json-stringify is given for a contract schema: every `$ref` written out, only what
 * decides the output kept (`type`, `properties`, `items`, `additionalProperties`, `format:
 * date-time`), so that the output is what JSON.stringify would write for a body that matches the
 * contract. An object without `additionalProperties` keeps its other keys (`true`). Dropped: `required` (a missing key is left out, as JSON.stringify does, instead of
 * throwing), `enum` and `const` (fast-json-stringify writes a `const` whatever the value is), and
 * `format` other than date-time (`format: date` writes a Date in local time). A `oneOf`/`anyOf` of
 * scalar branches of distinct types (`{type: string, enum} | {type: null}`) becomes their type list.
 * Anything else (allOf, not, if, a union of objects, patternProperties, tuples, recursion) throws
 * Unsupported: that answer stays with JSON.stringify.
 */
function normalize(doc: Json, node: unknown, refs: string[] = []): Json {
  if (node === true) return {};
  if (!node || typeof node !== 'object' || Array.isArray(node)) throw new Unsupported(`not a schema: ${JSON.stringify(node)}`);
  const schema = node as Json;
  if (typeof schema.$ref === 'string') {
    const ref = schema.$ref;
    if (!ref.startsWith('#/')) throw new Unsupported(`non-local $ref ${ref}`);
    if (refs.includes(ref)) throw new Unsupported(`recursive $ref ${ref}`);
    const target = ref.slice(2).split('/').reduce<any>((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    if (target === undefined) throw new Unsupported(`$ref ${ref} not found`);
    const { $ref: _, ...siblings } = schema;
    const resolved = normalize(doc, target, [...refs, ref]);
    const rest = normalize(doc, siblings, refs);
    if (Object.keys(rest).length > 0) throw new Unsupported(`$ref ${ref} with siblings that change the output`);
    return resolved;
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (IGNORED.has(k) || k.startsWith('x-')) continue;
    switch (k) {
      case 'type': {
        const types: unknown[] = Array.isArray(v) ? v : [v];
        if (types.length === 0 || !types.every((t) => typeof t === 'string' && TYPES.has(t))) throw new Unsupported(`type ${JSON.stringify(v)}`);
        out.type = v;
        break;
      }
      case 'format':
        if (v === 'date-time') out.format = v;
        break;
      case 'properties':
        out.properties = Object.fromEntries(Object.entries<unknown>(v).map(([name, s]) => [name, normalize(doc, s, refs)]));
        break;
      case 'items':
        out.items = normalize(doc, v, refs);
        break;
      case 'additionalProperties':
        out.additionalProperties = typeof v === 'boolean' ? v : normalize(doc, v, refs);
        break;
      case 'oneOf':
      case 'anyOf':
        Object.assign(out, scalarUnion(doc, v, refs));
        break;
      default:
        throw new Unsupported(`keyword ${k}`);
    }
  }
  if (out.type === undefined && (out.properties || out.additionalProperties !== undefined)) out.type = 'object';
  if (out.type === undefined && out.items) out.type = 'array';
  // Without additionalProperties, an object may carry other keys (JSON Schema's default), which
  // JSON.stringify writes and fast-json-stringify would drop.
  if (out.type === 'object' && out.additionalProperties === undefined) out.additionalProperties = true;
  const types: string[] = out.type === undefined ? [] : Array.isArray(out.type) ? out.type : [out.type];
  // Several types with an object or array among them: fast-json-stringify's type dispatch between
  // them is not worth trusting here.
  if (types.length > 1 && types.some((t) => t === 'object' || t === 'array')) throw new Unsupported(`type ${JSON.stringify(out.type)}`);
  return out;
}

/** `oneOf`/`anyOf` of scalar branches, each of another JSON type, as one type list. */
function scalarUnion(doc: Json, branches: unknown, refs: string[]): Json {
  if (!Array.isArray(branches) || branches.length === 0) throw new Unsupported('empty union');
  const types: string[] = [];
  let format: string | undefined;
  for (const b of branches.map((s) => normalize(doc, s, refs))) {
    const { type, format: f, ...rest } = b;
    if (Object.keys(rest).length > 0 || type === undefined) throw new Unsupported('a union of non-scalar schemas');
    for (const t of Array.isArray(type) ? type : [type]) {
      if (!SCALARS.has(t) || types.includes(t)) throw new Unsupported('a union of overlapping or non-scalar types');
      types.push(t);
    }
    if (f) format = f;
  }
  // integer and number overlap (1 is both); a format applies only to strings.
  if (types.includes('integer') && types.includes('number')) throw new Unsupported('integer | number');
  return { type: types.length === 1 ? types[0] : types, ...(format ? { format } : {}) };
}

/** The schema of an operation's JSON response of `status`, or undefined. */
function responseSchema(contract: Contract, operationId: OperationId, status: number): unknown {
  const info = contract.operations.get(operationId);
  if (!info) return undefined;
  const doc = contract.document;
  const resolve = (n: any): any => (n && typeof n.$ref === 'string' ? resolve(n.$ref.slice(2).split('/').reduce((o: any, k: string) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc)) : n);
  const responses = doc.paths?.[info.path]?.[info.method.toLowerCase()]?.responses ?? {};
  const response = resolve(responses[String(status)]);
  return response?.content?.['application/json']?.schema;
}

/**
 * The JSON text of a success body, by a serializer compiled (on first use) from the operation's
 * response schema in the contract, for each operation and status: fast-json-stringify writes the
 * body from the schema without JSON.stringify's walk of every key. A schema it cannot be trusted
 * with (see normalize) has no serializer: the caller uses JSON.stringify, as for error bodies.
 *
 * With `check` (not in production), each text is also compared with JSON.stringify's: parsed, they
 * must be equal. A serializer drops keys its schema lacks and coerces values to the declared type
 * (null to 0, "3" to 3), which would make a wrong body look valid; the check makes every test that
 * meets such a body fail instead.
 */
export function createResponseSerializers(contract: Contract, { check }: { check: boolean }): (operationId: OperationId, status: number) => BodySerializer | undefined {
  const compiled = new Map<string, BodySerializer | null>();
  const compile = (operationId: OperationId, status: number): BodySerializer | null => {
    if (status < 200 || status >= 300 || status === 204) return null; // error bodies: JSON.stringify
    const schema = responseSchema(contract, operationId, status);
    if (schema === undefined) return null;
    let normalized: Json;
    try {
      normalized = normalize(contract.document, schema);
    } catch (err) {
      if (err instanceof Unsupported) return null;
      throw err;
    }
    if (normalized.type === undefined) return null; // any value: nothing for a schema to speed up
    const stringify = fastJson(normalized) as BodySerializer;
    if (!check) return stringify;
    return (body) => {
      const text = stringify(body);
      const expected = JSON.stringify(body);
      if (!isDeepStrictEqual(JSON.parse(text), expected === undefined ? undefined : JSON.parse(expected))) {
        throw new Error(`response serializer of ${operationId} ${status} wrote ${text}, JSON.stringify ${expected}: the body does not match the contract's schema`);
      }
      return text;
    };
  };
  return (operationId, status) => {
    const key = `${operationId} ${status}`;
    let s = compiled.get(key);
    if (s === undefined) compiled.set(key, (s = compile(operationId, status)));
    return s ?? undefined;
  };
}
