import type { Contract } from '../core/contract.js';
import { assertSupportedContract } from './contract-support.js';
import type { OperationId } from './operation.js';

export type RouteMatch =
  | { kind: 'operation'; operationId: OperationId; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

interface Route {
  operationId: OperationId;
  method: string;
  template: string;
  pattern: RegExp;
  names: string[];
  /** Characters outside `{...}`: a more literal template wins (`/tasks/tombstones` over `/tasks/{task_id}`). */
  literalLength: number;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function compile(operationId: OperationId, method: string, template: string): Route {
  const names: string[] = [];
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const m = /^\{([^}]+)\}$/.exec(part);
      if (!m) return escapeRegExp(part);
      names.push(m[1]!);
      return '([^/]+)';
    })
    .join('');
  return { operationId, method, template, pattern: new RegExp(`^${source}$`), names, literalLength: template.replace(/\{[^}]+\}/g, '').length };
}

const decode = (value: string) => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // malformed escapes: the value's own validation answers with a 400
  }
};

/**
 * Matches a request to a contract operation, once per request and without building anything: the
 * templates are compiled when the router is made. Trailing slashes are ignored; the most literal
 * template wins; a path that exists with other methods is a 405 that lists them.
 */
export function createOperationRouter(contract: Contract, apiRoot: string): (method: string, path: string) => RouteMatch {
  assertSupportedContract(contract.document);
  const inDocumentOrder = [...contract.operations.values()].map((op) => compile(op.operationId, op.method, op.path));
  const bySpecificity = [...inDocumentOrder].sort((a, b) => b.literalLength - a.literalLength);
  const exact = new Map<string, OperationId>();
  for (const r of inDocumentOrder) {
    if (r.names.length === 0) exact.set(`${r.method} ${r.template}`, r.operationId);
  }

  return (method, requestPath) => {
    let p = requestPath === apiRoot ? '/' : requestPath.slice(apiRoot.length);
    while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
    const hit = exact.get(`${method} ${p}`);
    if (hit) return { kind: 'operation', operationId: hit, params: {} };
    for (const r of bySpecificity) {
      if (r.method !== method) continue;
      const m = r.pattern.exec(p);
      if (!m) continue;
      const params: Record<string, string> = {};
      r.names.forEach((name, i) => (params[name] = decode(m[i + 1]!)));
      return { kind: 'operation', operationId: r.operationId, params };
    }
    const allow = [...new Set(inDocumentOrder.filter((r) => r.pattern.test(p)).map((r) => r.method))];
    return allow.length ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
  };
}
