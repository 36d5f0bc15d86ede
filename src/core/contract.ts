import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../project-root.js';
import type { operations } from '../../codegen/api.js';

type OperationId = keyof operations;

export const CONTRACT_PATH = path.join(PROJECT_ROOT, 'openapi.yaml');
/** The parsed contract `npm run build` leaves, used only when it was parsed from this very text. */
const PARSED_CONTRACT_PATH = path.join(PROJECT_ROOT, 'dist', 'openapi.json');

/**
 * The rate-limit bucket an operation names in `x-rate-limit`, and what it counts by: `general` and
 * `ai` per user (per client IP without a token), `auth` and `webhook` per client IP,
 * `calendar-feed` per URL (the path holds the feed's secret: one bucket per feed, whoever fetches it).
 */
export type RateLimitBucket = 'general' | 'ai' | 'auth' | 'webhook' | 'calendar-feed' | 'none';

/** The security scheme of personal access tokens; its roles in a requirement are the scopes needed. */
export const PERSONAL_TOKEN_SCHEME = 'personalToken';

export interface OperationInfo {
  operationId: OperationId;
  method: string;
  path: string;
  rateLimit: RateLimitBucket;
  /** Needs a bearer credential: an access token (`bearerAuth`) or a personal access token (`personalToken`). */
  authenticated: boolean;
  /** Also accepts a one-use ticket in `?ticket=` (the `eventTicket` scheme: GET /events). */
  ticketAuth: boolean;
  /**
   * The scopes a personal access token needs for the operation (its `personalToken` requirement,
   * all of them), or null when the operation refuses personal access tokens.
   */
  tokenScopes: readonly string[] | null;
  /** Only a personal access token is accepted (no `bearerAuth` alternative). */
  tokenOnly: boolean;
  deprecated: boolean;
  deprecatedAt?: string;
  sunset?: string;
  /** The operation takes a JSON request body. */
  hasBody: boolean;
  /** Declares an Idempotency-Key header (required or optional). */
  idempotent: boolean;
}

export interface Contract {
  /** The document as written, for /openapi.yaml. */
  yaml: string;
  /** The parsed document; treat as read-only (clone before handing it to a library that mutates). */
  document: Record<string, any>;
  json: string;
  operations: Map<OperationId, OperationInfo>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function parsedBefore(yaml: string): Record<string, any> | undefined {
  try {
    const cached = JSON.parse(fs.readFileSync(PARSED_CONTRACT_PATH, 'utf8')) as { sha256: string; document: Record<string, any> };
    return cached.sha256 === createHash('sha256').update(yaml).digest('hex') ? cached.document : undefined;
  } catch {
    return undefined; // not built, or unreadable: parse the YAML
  }
}

/** Loads openapi.yaml once and indexes what the HTTP layer needs per operation. */
export function loadContract(file = CONTRACT_PATH): Contract {
  const yaml = fs.readFileSync(file, 'utf8');
  const document = parsedBefore(yaml) ?? (parse(yaml) as Record<string, any>);
  const globalSecurity = document.security ?? [];
  const operations = new Map<OperationId, OperationInfo>();
  for (const [p, item] of Object.entries<Record<string, any>>(document.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const security = op.security ?? globalSecurity;
      const params: any[] = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      const idempotent = params.some((prm) => typeof prm.$ref === 'string' && /IdempotencyKey$/.test(prm.$ref));
      const tokenRequirement = security.find((s: Record<string, unknown>) => PERSONAL_TOKEN_SCHEME in s) as Record<string, string[]> | undefined;
      const jwt = security.some((s: Record<string, unknown>) => 'bearerAuth' in s);
      operations.set(op.operationId, {
        operationId: op.operationId,
        method: method.toUpperCase(),
        path: p,
        rateLimit: (op['x-rate-limit'] ?? 'general') as RateLimitBucket,
        authenticated: jwt || tokenRequirement !== undefined,
        tokenScopes: tokenRequirement ? [...tokenRequirement[PERSONAL_TOKEN_SCHEME]!] : null,
        tokenOnly: !jwt && tokenRequirement !== undefined,
        ticketAuth: security.some((s: Record<string, unknown>) => 'eventTicket' in s),
        deprecated: op.deprecated === true,
        deprecatedAt: op['x-deprecated-at'],
        sunset: op['x-sunset'],
        hasBody: Boolean(op.requestBody),
        idempotent,
      });
    }
  }
  return { yaml, document, json: JSON.stringify(document), operations };
}

/** The id under which `contractAjv` holds the contract: `${CONTRACT_SCHEMA_ID}#/components/schemas/Task`. */
export const CONTRACT_SCHEMA_ID = 'contract';

/**
 * An Ajv for the contract's schemas. OpenAPI 3.1 schemas are JSON Schema 2020-12, plus OpenAPI's
 * int32/int64 formats. The components are added once, so every validator compiled from this Ajv
 * shares their compiled code instead of inlining its own copy.
 */
export function contractAjv(contract: Contract, opts: { coerceTypes?: boolean } = {}): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, discriminator: false, coerceTypes: opts.coerceTypes ?? false, validateSchema: false });
  addContractFormats(ajv);
  ajv.addSchema({ $id: CONTRACT_SCHEMA_ID, components: contract.document.components }, CONTRACT_SCHEMA_ID);
  return ajv;
}

/** The instants the contract's `date-time` values may name: 1970-01-01T00:00:00Z up to the end of 9999 (UTC). */
export const EARLIEST_INSTANT_MS = Date.UTC(1970, 0, 1);
export const LATEST_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const rfc3339DateTime = fullFormats['date-time'] as { validate: (s: string) => boolean };
const rfc3339Date = fullFormats.date as { validate: (s: string) => boolean };

/**
 * The formats of the contract: JSON Schema's (ajv-formats), OpenAPI's int32/int64, and `date-time`
 * and `date` bounded to the years 1970–9999 — a `date-time` by the instant it names (in UTC, so
 * `1970-01-01T00:30:00+01:00` is too early), which is also what the service stores and answers in
 * `…Z` form. Years beyond these have no RFC 3339 spelling once normalised to UTC (`-000001-…`,
 * `+010000-…`), so every date input is refused with a 400 before it reaches a handler.
 */
export function addContractFormats(ajv: Ajv2020): void {
  addFormats.default(ajv);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (s: string) => {
      if (!rfc3339DateTime.validate(s)) return false;
      const ms = Date.parse(s.replace(' ', 'T'));
      return ms >= EARLIEST_INSTANT_MS && ms <= LATEST_INSTANT_MS;
    },
  });
  ajv.addFormat('date', { type: 'string', validate: (s: string) => rfc3339Date.validate(s) && s >= '1970-01-01' && s <= '9999-12-31' });
}
