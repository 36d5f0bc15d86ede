/**
 * The OpenAPI features the contract router and request validation implement. The service routes and
 * validates from the contract itself (docs/decisions/0001-contract-router.md), so a feature it does
 * not implement would let requests reach handlers unchecked: such a contract is refused at start-up.
 */

const ROUTED_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch']);
const PATH_ITEM_KEYS = new Set([...ROUTED_METHODS, 'parameters', 'summary', 'description', 'servers']);
const OPERATION_KEYS = new Set(['operationId', 'tags', 'summary', 'description', 'externalDocs', 'parameters', 'requestBody', 'responses', 'security', 'deprecated']);
const PARAMETER_KEYS = new Set(['name', 'in', 'required', 'description', 'schema', 'example', 'examples', 'deprecated', '$ref']);
const PARAMETER_LOCATIONS = new Set(['path', 'query', 'header']);
const SCALAR_TYPES = new Set(['string', 'integer', 'number', 'boolean']);
/** The security scheme the dispatcher checks: `Authorization: Bearer <access token>`. */
const BEARER_SCHEME = 'bearerAuth';
/**
 * Personal access tokens, checked by the dispatcher too (same header, `pfpat_` prefix). An operation
 * accepts them only by its own requirement, whose roles are the scopes it needs, all of them:
 * `[{bearerAuth: []}, {personalToken: [scope, …]}]` (at least one scope), or `[{personalToken: […]}]`
 * for an operation only tokens may call. Every scope must be a value of `TokenScope`.
 */
const TOKEN_SCHEME = 'personalToken';
/**
 * Schemes the dispatcher leaves to one operation's handler, which checks them itself: the scheme
 * may appear only there, as an optional alternative (`[{}, {scheme: []}]`).
 */
const HANDLER_CHECKED_SCHEMES: Record<string, string> = { metricsToken: 'getMetrics' };
/**
 * Alternatives to the bearer token that the dispatcher checks (src/http/pipeline/authenticate.ts),
 * each on its one operation only, as `[{bearerAuth: []}, {scheme: []}]`: GET /events' one-use ticket.
 */
const BEARER_ALTERNATIVES: Record<string, { operationId: string; in: string; name: string }> = {
  eventTicket: { operationId: 'streamEvents', in: 'query', name: 'ticket' },
};

/** Where and what, e.g. `GET /tasks: parameter "tags" in query: array values (style/explode)`. */
export type UnsupportedFeature = string;

function resolver(doc: Record<string, any>) {
  const resolve = (node: any): any => (typeof node?.$ref === 'string' ? resolve(node.$ref.slice(2).split('/').reduce((o: any, k: string) => o?.[k], doc)) : node);
  return resolve;
}

/** Every use of an OpenAPI feature the router or request validation does not implement; empty when none. */
export function unsupportedFeatures(doc: Record<string, any>): UnsupportedFeature[] {
  const found: UnsupportedFeature[] = [];
  const resolve = resolver(doc);

  for (const [name, scheme] of Object.entries<Record<string, any>>(doc.components?.securitySchemes ?? {})) {
    const alternative = BEARER_ALTERNATIVES[name];
    if (alternative) {
      if (scheme.type !== 'apiKey' || scheme.in !== alternative.in || scheme.name !== alternative.name) {
        found.push(`security scheme "${name}": checked as an apiKey in ${alternative.in} named "${alternative.name}"`);
      }
      continue;
    }
    const known = name === BEARER_SCHEME || name === TOKEN_SCHEME || name in HANDLER_CHECKED_SCHEMES;
    if (!known || scheme.type !== 'http' || String(scheme.scheme).toLowerCase() !== 'bearer') {
      found.push(`security scheme "${name}": only "${BEARER_SCHEME}" and "${TOKEN_SCHEME}" (http bearer) are checked`);
    }
  }
  const scopes = new Set<string>(doc.components?.schemas?.TokenScope?.enum ?? []);
  const checkSecurity = (where: string, security: unknown, operationId?: string) => {
    if (!Array.isArray(security)) return;
    const alternatives = security.map((s: Record<string, unknown>) => Object.keys(s));
    const roles = (s: Record<string, unknown>, k: string) => (Array.isArray(s[k]) ? (s[k] as unknown[]) : [s[k]]);
    for (const s of security as Record<string, unknown>[]) {
      for (const k of Object.keys(s)) {
        if (k !== TOKEN_SCHEME && roles(s, k).length) found.push(`${where}: roles on "${k}" (only "${TOKEN_SCHEME}" takes scopes)`);
      }
    }
    if (alternatives.flat().includes(TOKEN_SCHEME)) {
      if (operationId === undefined) return void found.push(`${where}: "${TOKEN_SCHEME}" (tokens are accepted per operation)`);
      const shapes = alternatives.map((keys) => keys.join('+')).sort().join(',');
      if (shapes !== `${BEARER_SCHEME},${TOKEN_SCHEME}` && shapes !== TOKEN_SCHEME) {
        return void found.push(`${where}: security must be [{${BEARER_SCHEME}: []}, {${TOKEN_SCHEME}: [scopes]}] or [{${TOKEN_SCHEME}: [scopes]}]`);
      }
      const requirement = (security as Record<string, unknown>[]).find((s) => TOKEN_SCHEME in s)!;
      const named = roles(requirement, TOKEN_SCHEME);
      if (shapes !== TOKEN_SCHEME && named.length === 0) found.push(`${where}: "${TOKEN_SCHEME}" names no scope`);
      if (new Set(named).size !== named.length) found.push(`${where}: "${TOKEN_SCHEME}" names a scope twice`);
      for (const scope of named) if (typeof scope !== 'string' || !scopes.has(scope)) found.push(`${where}: scope "${String(scope)}" is not a TokenScope`);
      return;
    }
    const handlerChecked = alternatives.flat().filter((k) => k in HANDLER_CHECKED_SCHEMES);
    if (handlerChecked.length) {
      const own = handlerChecked.every((k) => HANDLER_CHECKED_SCHEMES[k] === operationId);
      const optional = alternatives.length === 2 && alternatives.some((keys) => keys.length === 0) && alternatives.some((keys) => keys.length === 1);
      if (!own || !optional) found.push(`${where}: ${handlerChecked.join(', ')} is checked only by ${handlerChecked.map((k) => HANDLER_CHECKED_SCHEMES[k]).join(', ')}, as [{}, {scheme: []}]`);
      return;
    }
    const alternativeOf = alternatives.flat().filter((k) => k in BEARER_ALTERNATIVES);
    if (alternativeOf.length) {
      const own = alternativeOf.every((k) => BEARER_ALTERNATIVES[k]!.operationId === operationId);
      const shape = alternatives.length === 2 && alternatives.every((keys) => keys.length === 1) && alternatives.some((keys) => keys[0] === BEARER_SCHEME);
      if (!own || !shape) found.push(`${where}: ${alternativeOf.join(', ')} is checked only on ${alternativeOf.map((k) => BEARER_ALTERNATIVES[k]!.operationId).join(', ')}, as [{${BEARER_SCHEME}: []}, {scheme: []}]`);
      return;
    }
    if (alternatives.some((keys) => keys.some((k) => k !== BEARER_SCHEME))) found.push(`${where}: security other than "${BEARER_SCHEME}"`);
    if (alternatives.length > 1) found.push(`${where}: alternative security requirements (optional authentication)`);
  };
  checkSecurity('document', doc.security);

  for (const [template, rawItem] of Object.entries<Record<string, any>>(doc.paths ?? {})) {
    if (rawItem.$ref) found.push(`${template}: a path item $ref`);
    const item = resolve(rawItem) ?? {};
    for (const key of Object.keys(item)) {
      if (!PATH_ITEM_KEYS.has(key) && !key.startsWith('x-')) found.push(`${template}: "${key}"`);
    }
    for (const method of ROUTED_METHODS) {
      const op = item[method];
      if (!op) continue;
      const where = `${method.toUpperCase()} ${template}`;
      for (const key of Object.keys(op)) {
        if (!OPERATION_KEYS.has(key) && !key.startsWith('x-')) found.push(`${where}: "${key}"`);
      }
      checkSecurity(where, op.security, op.operationId);
      // MCP tools (POST /mcp) check the scopes they name themselves: each must be a TokenScope.
      for (const [tool, d] of Object.entries<Record<string, any>>(op['x-mcp-tools'] ?? {})) {
        if (!Array.isArray(d?.scopes) || d.scopes.length === 0) found.push(`${where}: MCP tool "${tool}" names no scope`);
        for (const scope of d?.scopes ?? []) if (!scopes.has(scope)) found.push(`${where}: MCP tool "${tool}": scope "${String(scope)}" is not a TokenScope`);
      }
      for (const raw of [...(item.parameters ?? []), ...(op.parameters ?? [])]) {
        const p = resolve(raw);
        const what = `${where}: parameter "${p.name}" in ${p.in}`;
        if (!PARAMETER_LOCATIONS.has(p.in)) {
          found.push(`${what}: only path, query and header parameters are read`);
          continue;
        }
        for (const key of Object.keys(p)) {
          if (!PARAMETER_KEYS.has(key) && !key.startsWith('x-')) found.push(`${what}: "${key}" (only the default serialization is parsed)`);
        }
        const schema = resolve(p.schema) ?? {};
        const types = ([] as unknown[]).concat(schema.type ?? []);
        if (types.length === 0 || types.some((t) => !SCALAR_TYPES.has(String(t)))) found.push(`${what}: a non-scalar schema (only string, integer, number and boolean values are parsed)`);
      }
      const body = resolve(op.requestBody);
      for (const mediaType of Object.keys(body?.content ?? {})) {
        if (mediaType !== 'application/json') found.push(`${where}: request body as ${mediaType} (only application/json is read)`);
      }
    }
  }
  return found;
}

/** Throws naming every unsupported feature, so a contract the router would half-implement never serves. */
export function assertSupportedContract(doc: Record<string, any>): void {
  const found = unsupportedFeatures(doc);
  if (found.length) throw new Error(`openapi.yaml uses OpenAPI features the router does not implement:\n- ${found.join('\n- ')}`);
}
