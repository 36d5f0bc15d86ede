import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { addContractFormats } from '../../src/core/contract.js';
import { doc, resolveRef } from './operations.js';

// JSON Schema (the subset openapi.yaml uses for requests) → fast-check arbitraries of values the
// schema accepts, and the ways to break each of its fields. Covers: objects with required/optional
// properties, additionalProperties, min/maxProperties and dependentRequired; strings with
// min/maxLength, pattern and the formats uuid, date-time, email and uri; integers and numbers with
// bounds; booleans; enum and const; type arrays (`[integer, 'null']`); arrays with min/maxItems and
// uniqueItems; oneOf and anyOf. Every generated value is checked by the same Ajv dialect as the
// server (2020-12 with ajv-formats), so "valid" means valid by the contract.

export type JsonSchema = Record<string, any>;
export type JsonPath = (string | number)[];

const ajv = new Ajv2020({ strict: false, allErrors: false });
addContractFormats(ajv);
ajv.addSchema({ $id: 'openapi', components: doc.components }, 'openapi');

// Query and path values arrive as text: the server's Ajv coerces them to the declared type.
const coercingAjv = new Ajv2020({ strict: false, allErrors: false, coerceTypes: true });
addContractFormats(coercingAjv);
coercingAjv.addSchema({ $id: 'openapi', components: doc.components }, 'openapi');

const validators = new Map<string, ValidateFunction>();
const parameterValidators = new Map<string, ValidateFunction>();

/** Whether a query or path parameter of `schema` accepts this text (coerced as the server does). */
export function parameterAccepts(schema: JsonSchema, text: string): boolean {
  const key = JSON.stringify(schema);
  let v = parameterValidators.get(key);
  if (!v) {
    const rebased = JSON.parse(key.replace(/"\$ref":"#\//g, '"$ref":"openapi#/'));
    v = coercingAjv.compile({ type: 'object', properties: { value: rebased } });
    parameterValidators.set(key, v);
  }
  return v({ value: text }) as boolean;
}

/** Whether a value satisfies a schema of the contract (local `$ref`s resolve against openapi.yaml). */
export function validatorFor(schema: JsonSchema): (value: unknown) => boolean {
  const key = JSON.stringify(schema);
  let v = validators.get(key);
  if (!v) {
    v = ajv.compile(JSON.parse(key.replace(/"\$ref":"#\//g, '"$ref":"openapi#/')));
    validators.set(key, v);
  }
  const validate = v;
  return (value) => validate(value) as boolean;
}

export interface SchemaContext {
  /** The property this value is for (the last object key on the path), if any. */
  name?: string;
  path: JsonPath;
}

/** Replaces the generator of one field (by name, path or schema); undefined keeps the schema's. */
export type Override = (schema: JsonSchema, ctx: SchemaContext) => fc.Arbitrary<unknown> | undefined;

export interface ArbitraryOptions {
  override?: Override;
}

// ------------------------------------------------------------------------------------ valid values

/** Strings that have broken services before: markup, SQL, format strings, bidi overrides, emoji, … */
const NASTY_STRINGS = [
  "Robert'); DROP TABLE tasks;--",
  '<script>alert(1)</script>',
  '%s%n%x',
  '{{7*7}} ${7*7}',
  '\u202eevil\u202c',
  'Zürich – café 😀👩‍👩‍👧',
  '  leading and trailing  ',
  'line\nbreak\ttab',
  'null',
  'undefined',
  '__proto__',
  '\\u0000 (an escaped escape)',
  '\ud800 lone surrogate',
  'a\u0000b',
];

function textArbitrary(minLength: number, maxLength: number): fc.Arbitrary<string> {
  const short = Math.min(maxLength, Math.max(minLength, 24));
  const fits = (s: string) => [...s].length >= minLength && [...s].length <= maxLength;
  const parts: fc.WeightedArbitrary<string>[] = [
    { weight: 4, arbitrary: fc.string({ minLength, maxLength: short }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength: short }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength, maxLength: short }) },
  ];
  const nasty = NASTY_STRINGS.filter(fits);
  if (nasty.length) parts.push({ weight: 1, arbitrary: fc.constantFrom(...nasty) });
  if (Number.isFinite(maxLength) && maxLength <= 10_000) {
    // Exactly at the limit, in characters of 1, 2 and 4 UTF-8 bytes (an emoji is 2 UTF-16 units but 1 character).
    parts.push({ weight: 1, arbitrary: fc.constantFrom('a', 'é', '😀').map((c) => c.repeat(maxLength)) });
  }
  return fc.oneof(...parts);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** RFC 3339 date-times with a zone, in the spellings a client may use: Z or z, offsets, fractions, a space for T. */
export function dateTimeArbitrary(opts: { min?: Date; max?: Date } = {}): fc.Arbitrary<string> {
  const min = opts.min ?? new Date('2000-01-01T00:00:00Z');
  const max = opts.max ?? new Date('2099-12-31T23:59:59Z');
  return fc
    .record({
      date: fc.date({ min, max, noInvalidDate: true }),
      offsetMinutes: fc.oneof(fc.constant(0), fc.integer({ min: -12 * 60, max: 14 * 60 }), fc.constantFrom(60, -300, 330, 345, 840, -720)),
      zone: fc.constantFrom('Z', 'z', '+HH:MM', '+HH:MM', '+HHMM'),
      separator: fc.constantFrom('T', 'T', 't', ' '),
      fraction: fc.constantFrom('', '', '.5', '.123', '.123456', '.123456789'),
    })
    .map(({ date, offsetMinutes, zone, separator, fraction }) => {
      const utcZone = zone === 'Z' || zone === 'z';
      const offset = utcZone ? 0 : offsetMinutes;
      const local = new Date(date.getTime() + offset * 60_000);
      const day = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}`;
      const time = `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${fraction}`;
      const sign = offset < 0 ? '-' : '+';
      const hh = pad(Math.floor(Math.abs(offset) / 60));
      const mm = pad(Math.abs(offset) % 60);
      const suffix = utcZone ? zone : zone === '+HHMM' ? `${sign}${hh}${mm}` : `${sign}${hh}:${mm}`;
      return `${day}${separator}${time}${suffix}`;
    });
}

function stringArbitrary(s: JsonSchema): fc.Arbitrary<string> {
  const minLength: number = s.minLength ?? 0;
  const maxLength: number = s.maxLength ?? Infinity;
  const length = (v: string) => [...v].length;
  const inLength = (v: string) => length(v) >= minLength && length(v) <= maxLength;
  let arb: fc.Arbitrary<string>;
  switch (s.format) {
    case 'uuid':
      arb = fc.oneof({ weight: 5, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.uuid().map((u) => u.toUpperCase()) });
      break;
    case 'date-time':
      arb = dateTimeArbitrary();
      break;
    case 'email':
      arb = fc.emailAddress();
      break;
    case 'uri':
      arb = fc.webUrl({ validSchemes: ['https'], withQueryParameters: true, withFragments: true });
      break;
    default:
      if (s.pattern) {
        const re = new RegExp(s.pattern, 'u');
        arb = fc.oneof(
          fc.stringMatching(re).filter(inLength),
          textArbitrary(minLength, Math.min(maxLength, 10_000)).filter((v) => re.test(v)),
        );
      } else {
        arb = textArbitrary(minLength, Math.min(maxLength, 10_000));
      }
  }
  return arb.filter(inLength);
}

function typesOf(s: JsonSchema): string[] {
  if (Array.isArray(s.type)) return s.type;
  if (typeof s.type === 'string') return [s.type];
  if (s.properties || s.additionalProperties !== undefined) return ['object'];
  if (s.items) return ['array'];
  return ['null', 'boolean', 'integer', 'string', 'object', 'array'];
}

function objectArbitrary(s: JsonSchema, ctx: SchemaContext, opts: ArbitraryOptions): fc.Arbitrary<Record<string, unknown>> {
  const props: Record<string, JsonSchema> = s.properties ?? {};
  const required = new Set<string>(s.required ?? []);
  const child = (key: string) => arbitraryFromSchema(props[key]!, opts, { name: key, path: [...ctx.path, key] });

  // Keys tied by dependentRequired are present together or not at all.
  const groupOf = new Map<string, Set<string>>();
  for (const key of Object.keys(props)) groupOf.set(key, new Set([key]));
  for (const [key, deps] of Object.entries<string[]>(s.dependentRequired ?? {})) {
    const merged = new Set([...(groupOf.get(key) ?? [key]), ...deps.flatMap((d) => [...(groupOf.get(d) ?? [d])])]);
    for (const k of merged) groupOf.set(k, merged);
  }
  const groups = [...new Set(groupOf.values())];
  const parts: fc.Arbitrary<Record<string, unknown>>[] = groups.map((group) => {
    const keys = [...group];
    const record = fc.record(Object.fromEntries(keys.map((k) => [k, child(k)])));
    return keys.some((k) => required.has(k)) ? record : fc.option(record, { nil: undefined, freq: 2 }).map((r) => r ?? {});
  });
  if (s.additionalProperties === true || (s.additionalProperties && typeof s.additionalProperties === 'object')) {
    const extra = typeof s.additionalProperties === 'object' ? arbitraryFromSchema(s.additionalProperties, opts, { path: [...ctx.path, '*'] }) : fc.jsonValue({ maxDepth: 2 });
    parts.push(fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !(k in props) && k !== '__proto__'), extra, { maxKeys: 4 }), { nil: undefined }).map((r) => r ?? {}));
  }
  const min = s.minProperties ?? 0;
  const max = s.maxProperties ?? Infinity;
  return fc
    .tuple(...parts)
    .map((objects) => Object.assign({}, ...objects) as Record<string, unknown>)
    .filter((o) => Object.keys(o).length >= min && Object.keys(o).length <= max);
}

function arbitraryOfType(s: JsonSchema, type: string, ctx: SchemaContext, opts: ArbitraryOptions): fc.Arbitrary<unknown> {
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({ min: s.minimum ?? -(2 ** 31), max: s.maximum ?? 2 ** 31 - 1 });
    case 'number':
      return fc.double({ min: s.minimum ?? -1e9, max: s.maximum ?? 1e9, noNaN: true, noDefaultInfinity: true });
    case 'string':
      return stringArbitrary(s);
    case 'array': {
      const items = arbitraryFromSchema(s.items ?? {}, opts, { path: [...ctx.path, 0] });
      const constraints = { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 5, 10) };
      return s.uniqueItems ? fc.uniqueArray(items, { ...constraints, selector: (v) => JSON.stringify(v) }) : fc.array(items, constraints);
    }
    case 'object':
      return objectArbitrary(s, ctx, opts);
    default:
      throw new Error(`arbitraryFromSchema: type ${type} at ${ctx.path.join('.') || '(root)'} is not supported`);
  }
}

/** Values `schema` accepts. `override` replaces the generator of a field (ids that must exist, URLs that must stay local, …). */
export function arbitraryFromSchema(schema: JsonSchema, opts: ArbitraryOptions = {}, ctx: SchemaContext = { path: [] }): fc.Arbitrary<unknown> {
  const s = resolveRef(schema);
  const overridden = opts.override?.(s, ctx);
  if (overridden) return overridden;
  let arb: fc.Arbitrary<unknown>;
  if (s.const !== undefined) arb = fc.constant(s.const);
  else if (Array.isArray(s.enum)) arb = fc.constantFrom(...s.enum);
  else if (Array.isArray(s.oneOf) || Array.isArray(s.anyOf)) {
    const branches: JsonSchema[] = s.oneOf ?? s.anyOf;
    // The branches' own keywords plus the ones written beside oneOf/anyOf.
    const { oneOf: _o, anyOf: _a, discriminator: _d, ...beside } = s;
    arb = fc.oneof(...branches.map((b) => arbitraryFromSchema({ ...beside, ...resolveRef(b) }, opts, ctx)));
  } else {
    const types = typesOf(s);
    arb = types.length === 1 ? arbitraryOfType(s, types[0]!, ctx, opts) : fc.oneof(...types.map((t) => arbitraryOfType(s, t, ctx, opts)));
  }
  // Only values the contract accepts (oneOf: exactly one branch; formats as Ajv reads them).
  const valid = validatorFor(schema);
  return arb.filter((v) => valid(v));
}

// ------------------------------------------------------------------------------------ broken values

export interface BrokenValue {
  /** What is wrong with it, e.g. `too long (201 characters)`. */
  label: string;
  value: unknown;
}

const SAMPLE_SEED = 20_260_119;
/** A few valid values of a schema, the same on every run (used to build too-long arrays, duplicates, …). */
const samplesOf = (schema: JsonSchema, n: number) => fc.sample(arbitraryFromSchema(schema), { seed: SAMPLE_SEED, numRuns: n });

/** Alternatives of a field (`oneOf: [timestamp, null]` → both), each with the keywords beside the oneOf. */
function alternativesOf(schema: JsonSchema): JsonSchema[] {
  const s = resolveRef(schema);
  const branches: JsonSchema[] | undefined = s.oneOf ?? s.anyOf;
  if (!branches) return [s];
  const { oneOf: _o, anyOf: _a, discriminator: _d, ...beside } = s;
  return branches.flatMap((b) => alternativesOf({ ...beside, ...resolveRef(b) }));
}

/**
 * Values a field must refuse, each wrong in one way: its type (including the look-alikes `"true"`
 * and `"42"`), null where null is not allowed, out of range, too short or long, off-pattern, a
 * broken format (a timestamp without a zone among them), outside the enum. Every value returned
 * fails the field's schema.
 */
export function brokenValues(schema: JsonSchema): BrokenValue[] {
  const alternatives = alternativesOf(schema);
  const allowed = new Set(alternatives.flatMap((a) => (a.const !== undefined ? [a.const === null ? 'null' : typeof a.const === 'number' ? 'integer' : typeof a.const] : typesOf(a))));
  const out: BrokenValue[] = [];
  const wrongTypes: [string, unknown, string][] = [
    ['string', allowed.has('boolean') ? 'true' : allowed.has('integer') || allowed.has('number') ? '42' : 'text', 'a string'],
    ['integer', 42, 'a number'],
    ['boolean', true, 'a boolean'],
    ['object', { nested: 'object' }, 'an object'],
    ['array', ['an', 'array'], 'an array'],
  ];
  const wrong = wrongTypes.find(([t]) => !allowed.has(t) && !(t === 'integer' && allowed.has('number')));
  if (wrong) out.push({ label: `wrong type (${wrong[2]} ${JSON.stringify(wrong[1])})`, value: wrong[1] });
  if (!allowed.has('null')) out.push({ label: 'null', value: null });

  for (const a of alternatives) {
    const types = typesOf(a);
    if (a.const !== undefined && typeof a.const === 'string') out.push({ label: `not the constant ${a.const}`, value: `not-${a.const}` });
    if (Array.isArray(a.enum) && a.enum.some((e: unknown) => typeof e === 'string')) out.push({ label: 'not one of the enum', value: 'not-one-of-them' });
    if (Array.isArray(a.enum) && a.enum.some((e: unknown) => typeof e === 'number')) out.push({ label: 'not one of the enum', value: 987_654 });
    if (types.includes('integer') || types.includes('number')) {
      if (a.minimum !== undefined) out.push({ label: `below the minimum (${a.minimum - 1})`, value: a.minimum - 1 });
      if (a.maximum !== undefined) out.push({ label: `above the maximum (${a.maximum + 1})`, value: a.maximum + 1 });
      if (types.includes('integer')) out.push({ label: 'not an integer (1.5)', value: (a.minimum ?? 0) + 1.5 });
      if (a.maximum === undefined) out.push({ label: 'beyond any integer type (1e21)', value: 1e21 });
    }
    if (types.includes('string') && a.const === undefined && a.enum === undefined) {
      const re = a.pattern ? new RegExp(a.pattern, 'u') : undefined;
      const fits = (v: string) => !re || re.test(v);
      if (a.minLength) out.push({ label: `too short (${a.minLength - 1} characters)`, value: 'a'.repeat(a.minLength - 1) });
      if (a.maxLength !== undefined) {
        const filler = ['a', 'A', '1', 'ab-'].find((c) => fits(c.repeat(a.maxLength + 1))) ?? 'a';
        out.push({ label: `too long (${a.maxLength + 1} characters)`, value: filler.repeat(a.maxLength + 1).slice(0, a.maxLength + 1) });
      }
      if (re) {
        const min = a.minLength ?? 0;
        const off = ['   ', ' ', 'has spaces', 'http://plain-http.example/x', '!!', 'ü', '-'].find((v) => !re.test(v) && v.length >= min && v.length <= (a.maxLength ?? Infinity));
        if (off !== undefined) out.push({ label: `does not match ${a.pattern}`, value: off });
      }
      switch (a.format) {
        case 'uuid':
          out.push({ label: 'not a uuid', value: 'not-a-uuid' }, { label: 'a uuid one digit short', value: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7' });
          break;
        case 'date-time':
          out.push(
            { label: 'a timestamp without a zone', value: '2026-01-19T11:30:00' },
            { label: 'a date without a time', value: '2026-01-19' },
            { label: 'a day that does not exist', value: '2026-02-30T10:00:00Z' },
            { label: 'a timestamp in words', value: 'tomorrow at noon' },
            { label: 'an instant before 1970', value: '0000-01-01T00:00:00Z' },
            { label: 'an instant after 9999 (in UTC)', value: '9999-12-31T23:30:00-01:00' },
          );
          break;
        case 'email':
          out.push({ label: 'not an email address', value: 'ada.example.com' });
          break;
        case 'uri':
          out.push({ label: 'not a URI', value: 'not a uri' });
          break;
      }
    }
    if (types.includes('array')) {
      const itemSchema = a.items ?? {};
      if (a.minItems) out.push({ label: `fewer than ${a.minItems} items`, value: [] });
      if (a.maxItems !== undefined) out.push({ label: `more than ${a.maxItems} items`, value: samplesOf(itemSchema, a.maxItems + 1) });
      if (a.uniqueItems) {
        const [x] = samplesOf(itemSchema, 1);
        out.push({ label: 'a duplicated item', value: [x, x] });
      }
      for (const b of brokenValues(itemSchema).slice(0, 2)) out.push({ label: `an item that is ${b.label}`, value: [b.value] });
    }
  }
  const valid = validatorFor(schema);
  const seen = new Set<string>();
  return out.filter((b) => {
    const key = JSON.stringify(b.value) ?? String(b.value);
    if (seen.has(key) || valid(b.value)) return false;
    seen.add(key);
    return true;
  });
}

export interface BodyMutation {
  /** Where and how the body is broken, e.g. `body.title: too long (201 characters)`. */
  label: string;
  /** For a oneOf body: the branch the valid body it breaks must come from. */
  branch?: JsonSchema;
  apply(body: unknown): unknown;
}

const REMOVE = Symbol('remove');

/** A copy of `body` with `path` set to `value` (missing parent objects created) or removed. */
function withValueAt(body: unknown, path: JsonPath, value: unknown | typeof REMOVE): unknown {
  if (path.length === 0) return value;
  const copy: any = structuredClone(body ?? {});
  let node = copy;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    if (node[key] === undefined || node[key] === null || typeof node[key] !== 'object') node[key] = typeof path[i + 1] === 'number' ? [] : {};
    node = node[key];
  }
  const last = path[path.length - 1]!;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
  return copy;
}

const describePath = (path: JsonPath) => ['body', ...path.map((k) => (typeof k === 'number' ? `[${k}]` : k))].join('.').replace(/\.\[/g, '[');

function objectMutations(s: JsonSchema, path: JsonPath, out: BodyMutation[], branch: JsonSchema | undefined): void {
  const props: Record<string, JsonSchema> = s.properties ?? {};
  const at = describePath(path);
  if (s.additionalProperties === false) {
    out.push({ label: `${at}: an unknown field`, branch, apply: (b) => withValueAt(b, [...path, 'unexpected_field'], 'surprise') });
  }
  if (s.minProperties) out.push({ label: `${at}: no fields at all`, branch, apply: (b) => withValueAt(b, path, {}) });
  for (const key of s.required ?? []) {
    out.push({ label: `${at}: the required ${key} is missing`, branch, apply: (b) => withValueAt(b, [...path, key], REMOVE) });
  }
  for (const [key, deps] of Object.entries<string[]>(s.dependentRequired ?? {})) {
    const [value] = samplesOf(props[key] ?? {}, 1);
    out.push({
      label: `${at}: ${key} without ${deps.join(', ')}`,
      branch,
      apply: (b) => deps.reduce((acc, d) => withValueAt(acc, [...path, d], REMOVE), withValueAt(b, [...path, key], value)),
    });
  }
  for (const [key, prop] of Object.entries(props)) fieldMutations(prop, [...path, key], out, branch);
}

function fieldMutations(schema: JsonSchema, path: JsonPath, out: BodyMutation[], branch: JsonSchema | undefined): void {
  for (const broken of brokenValues(schema)) {
    out.push({ label: `${describePath(path)}: ${broken.label}`, branch, apply: (b) => withValueAt(b, path, broken.value) });
  }
  for (const alt of alternativesOf(schema)) {
    if (typesOf(alt).includes('object') && alt.properties) objectMutations(alt, path, out, branch);
    if (typesOf(alt).includes('array') && alt.items) {
      const item = resolveRef(alt.items);
      if (typesOf(item).includes('object') && item.properties) objectMutations(item, [...path, 0], out, branch);
    }
  }
}

/**
 * Every way to break a request body of `schema`, one field at a time: each field's broken values
 * (see `brokenValues`), an unknown field in each closed object, each required field missing, each
 * dependentRequired pair split. For a oneOf body, the mutations of each branch say which branch the
 * valid body they start from must come from.
 */
export function bodyMutations(schema: JsonSchema): BodyMutation[] {
  const s = resolveRef(schema);
  const out: BodyMutation[] = [];
  const branches: JsonSchema[] | undefined = s.oneOf ?? s.anyOf;
  if (branches) {
    for (const b of branches) {
      const branch = resolveRef(b);
      objectMutations(branch, [], out, b);
    }
  } else {
    objectMutations(s, [], out, undefined);
  }
  // A key JSON.parse makes an own property: it must be refused like any other unknown field.
  if (s.additionalProperties === false || branches) {
    out.push({
      label: 'body: a "__proto__" key',
      apply: (b) => {
        const copy: Record<string, unknown> = structuredClone((b ?? {}) as Record<string, unknown>);
        Object.defineProperty(copy, '__proto__', { value: { admin: true, tier: 'pro' }, enumerable: true, configurable: true, writable: true });
        return copy;
      },
    });
  }
  return out;
}
