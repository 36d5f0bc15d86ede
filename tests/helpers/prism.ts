import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../../db/embedded.js';
import { assertMatchesContract, contract, ContractViolation } from './contract.js';

// Prism (@stoplight/prism-cli) against openapi.yaml: `prism mock` serves the contract's examples
// (what QA runs), `prism proxy` forwards to a running API and checks every request and response
// against the contract. Used by tests/contract/prism-mock.test.ts, tests/e2e/user-stories.test.ts
// and scripts/prism-mock-check.ts (`npm run mock:check`).

const root = path.resolve(import.meta.dirname, '../..');
const doc = contract.document;
const resolve = (o: any): any => (o?.$ref ? resolve(o.$ref.slice(2).split('/').reduce((x: any, k: string) => x[k], doc)) : o);

export interface RunningPrism {
  /** `http://127.0.0.1:<port>`; operations are at their contract paths, without /api/v1. */
  baseUrl: string;
  pid: number;
  /** Prism's own output, for a failure message. */
  output: string[];
  stop(): Promise<void>;
}

/**
 * Starts `prism mock openapi.yaml`, or `prism proxy openapi.yaml <upstream> --errors` (every request
 * and response validated; a violation is answered 422/500 by Prism with an `sl-violations` header),
 * on 127.0.0.1, and resolves once it answers.
 */
export async function startPrism(mode: 'mock' | 'proxy', opts: { upstream?: string; timeoutMs?: number } = {}): Promise<RunningPrism> {
  const port = await freePort();
  const args = [path.join(root, 'node_modules/.bin/prism'), mode, 'openapi.yaml'];
  if (mode === 'proxy') args.push(opts.upstream ?? '', '--errors');
  args.push('-h', '127.0.0.1', '-p', String(port));
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (output.length > 500) output.splice(0, output.length - 500);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const prism: RunningPrism = {
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await prism.stop();
      throw new Error(`prism ${mode} did not start:\n${output.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return prism;
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

export interface OperationResult {
  operationId: string;
  method: string;
  path: string;
  status: number | null;
  /** Why the answer is not a documented, schema-valid success; null when it is. */
  problem: string | null;
}

const exampleValue = (param: any) => {
  const p = resolve(param);
  return p.example ?? p.schema?.example ?? p.schema?.examples?.[0] ?? p.schema?.default;
};

function statusLine(url: URL): Promise<string> {
  return new Promise((done, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer mock-token\r\n\r\n`);
    });
    socket.once('data', (chunk) => {
      done(chunk.toString().split('\r\n')[0]!);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

/**
 * Calls every operation of the contract on a Prism mock, with the parameters and the first request
 * example the contract gives, and checks each answer: a success status the operation documents,
 * with a body valid against its schema (the voice WebSocket: a 101 to the upgrade).
 */
export async function callEveryOperation(baseUrl: string): Promise<OperationResult[]> {
  const results: OperationResult[] = [];
  for (const op of contract.operations.values()) {
    const raw = doc.paths[op.path][op.method.toLowerCase()];
    const params: any[] = [...(doc.paths[op.path].parameters ?? []), ...(raw.parameters ?? [])].map(resolve);
    const path = op.path.replace(/\{([^}]+)\}/g, (_m, name) => encodeURIComponent(String(exampleValue(params.find((p) => p.name === name)) ?? '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d')));
    const url = new URL(path.slice(1), `${baseUrl}/`);
    const headers: Record<string, string> = { authorization: 'Bearer mock-token' };
    for (const p of params) {
      if (!p.required) continue;
      const value = exampleValue(p);
      if (p.in === 'query') url.searchParams.set(p.name, String(value));
      if (p.in === 'header') headers[p.name.toLowerCase()] = String(value);
    }
    let body: string | undefined;
    const media = raw.requestBody?.content?.['application/json'];
    if (media) {
      const example = resolve(Object.values<any>(media.examples ?? {})[0])?.value ?? media.example ?? {};
      body = JSON.stringify(example);
      headers['content-type'] = 'application/json';
    }
    const result: OperationResult = { operationId: op.operationId, method: op.method, path: op.path, status: null, problem: null };
    results.push(result);
    try {
      if (raw.responses['101']) {
        // The voice relay: Prism answers the upgrade; fetch cannot read a 101, so read the status line.
        const line = await statusLine(url);
        result.status = Number(line.split(' ')[1]);
        if (result.status !== 101) result.problem = `expected 101 to the WebSocket upgrade, got ${line}`;
        continue;
      }
      const res = await fetch(url, { method: op.method, headers, body, redirect: 'manual' });
      const text = await res.text();
      const contentType = res.headers.get('content-type');
      result.status = res.status;
      if (res.status >= 400) {
        result.problem = `answered ${res.status}: ${text.slice(0, 300)}`;
        continue;
      }
      const parsed = contentType?.includes('json') && text ? JSON.parse(text) : text || undefined;
      assertMatchesContract(op.method, op.path.replace(/\{[^}]+\}/g, 'x'), res.status, contentType, parsed);
    } catch (err) {
      result.problem = err instanceof ContractViolation || err instanceof Error ? err.message : String(err);
    }
  }
  return results;
}

export interface InvalidRequestCase {
  name: string;
  method: string;
  /** Contract path, without /api/v1. */
  path: string;
  body?: unknown;
  /** Sent with the bearer token and JSON content type; `Idempotency-Key` unless `noKey`. */
  headers?: Record<string, string>;
  noKey?: boolean;
  /** What the server answers, and so what the mock must answer. */
  status: number;
  code: string;
}

const task = { title: 'Water the plants' };

/**
 * Requests the server refuses, and what it answers: QA's tests against `prism mock` must see the
 * same status and error code. Prism cannot tell a missing `Idempotency-Key` from other invalid
 * input, so it answers that with the first 400 example (`VALIDATION_ERROR`) unless asked for
 * `keyRequired` with `Prefer`; the mismatch 422 (the `default` response) only with `Prefer: code=422`.
 */
export const invalidRequestCases: InvalidRequestCase[] = [
  { name: 'createTask without title', method: 'POST', path: '/tasks', body: { description: 'no title' }, status: 400, code: 'VALIDATION_ERROR' },
  { name: 'createTask with a priority outside the enum', method: 'POST', path: '/tasks', body: { ...task, priority: 'urgent' }, status: 400, code: 'VALIDATION_ERROR' },
  { name: 'createTask with an unknown field', method: 'POST', path: '/tasks', body: { ...task, colour: 'red' }, status: 400, code: 'VALIDATION_ERROR' },
  { name: 'updateCurrentUser with an unknown field', method: 'PATCH', path: '/users/me', body: { nickname: 'Ada' }, status: 400, code: 'VALIDATION_ERROR' },
  { name: 'createNote with an empty content', method: 'POST', path: '/notes', body: { content: '' }, status: 400, code: 'VALIDATION_ERROR' },
  { name: 'listTasks with limit above 100', method: 'GET', path: '/tasks?limit=1000', status: 400, code: 'VALIDATION_ERROR' },
  { name: 'createTask without Idempotency-Key', method: 'POST', path: '/tasks', body: task, noKey: true, status: 400, code: 'VALIDATION_ERROR' },
  {
    name: 'createTask without Idempotency-Key, asking for the keyRequired example',
    method: 'POST',
    path: '/tasks',
    body: task,
    noKey: true,
    headers: { prefer: 'code=400, example=keyRequired' },
    status: 400,
    code: 'IDEMPOTENCY_KEY_REQUIRED',
  },
  { name: 'createTask asking for the mismatch (Prefer: code=422)', method: 'POST', path: '/tasks', body: task, headers: { prefer: 'code=422' }, status: 422, code: 'IDEMPOTENCY_KEY_MISMATCH' },
];

export interface InvalidRequestResult {
  name: string;
  status: number;
  code: string | undefined;
  /** Why the answer is not the one the server gives, or not valid against the contract; null when it is. */
  problem: string | null;
}

/** Sends each of `invalidRequestCases` to a Prism mock and compares its answer with the server's. */
export async function callInvalidRequests(baseUrl: string): Promise<InvalidRequestResult[]> {
  const results: InvalidRequestResult[] = [];
  for (const c of invalidRequestCases) {
    const headers: Record<string, string> = { authorization: 'Bearer mock-token', ...c.headers };
    if (c.body !== undefined) headers['content-type'] = 'application/json';
    if (!c.noKey && c.method !== 'GET') headers['idempotency-key'] = '5f0c2d4e-8a1b-4c3d-9e7f-0a1b2c3d4e5f';
    const url = new URL(c.path.slice(1), `${baseUrl}/`);
    const res = await fetch(url, { method: c.method, headers, body: c.body === undefined ? undefined : JSON.stringify(c.body) });
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    const result: InvalidRequestResult = { name: c.name, status: res.status, code: body?.error?.code, problem: null };
    results.push(result);
    if (res.status !== c.status || result.code !== c.code) {
      result.problem = `expected ${c.status} ${c.code}, got ${res.status}: ${text.slice(0, 200)}`;
      continue;
    }
    try {
      assertMatchesContract(c.method, url.pathname, res.status, res.headers.get('content-type'), body);
    } catch (err) {
      result.problem = err instanceof Error ? err.message : String(err);
    }
  }
  return results;
}
