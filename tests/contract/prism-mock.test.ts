import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../db/embedded.js';
import { assertMatchesContract, contract } from '../helpers/contract.js';

// QA mocks the API with `npm run mock` (Prism). This proves Prism can serve every operation of the
// contract with a documented, schema-valid answer built from our examples.

const doc = contract.document;
const resolve = (o: any): any => (o?.$ref ? resolve(o.$ref.slice(2).split('/').reduce((x: any, k: string) => x[k], doc)) : o);

let prism: ChildProcess;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  prism = spawn(process.execPath, ['node_modules/.bin/prism', 'mock', 'openapi.yaml', '-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while ((await fetch(`${base}/health/live`).catch(() => null))?.status !== 200) {
    if (Date.now() > deadline) throw new Error('prism mock did not start within 30 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}, 40_000);

afterAll(() => {
  prism?.kill('SIGTERM');
});

const exampleValue = (param: any) => {
  const p = resolve(param);
  return p.example ?? p.schema?.example ?? p.schema?.examples?.[0] ?? p.schema?.default;
};

function statusLine(url: URL): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer mock-token\r\n\r\n`);
    });
    socket.once('data', (chunk) => {
      resolve(chunk.toString().split('\r\n')[0]!);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('prism mock of openapi.yaml', () => {
  it('serves every operation with a documented, valid answer', async () => {
    const served: string[] = [];
    for (const op of contract.operations.values()) {
      const raw = doc.paths[op.path][op.method.toLowerCase()];
      const params: any[] = [...(doc.paths[op.path].parameters ?? []), ...(raw.parameters ?? [])].map(resolve);
      const path = op.path.replace(/\{([^}]+)\}/g, (_m, name) => encodeURIComponent(String(exampleValue(params.find((p) => p.name === name)) ?? '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d')));
      const url = new URL(path.slice(1), `${base}/`);
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
      if (raw.responses['101']) {
        // The voice relay: Prism answers the upgrade; fetch cannot read a 101, so read the status line.
        expect(await statusLine(url), op.operationId).toMatch(/^HTTP\/1\.1 101/);
        served.push(op.operationId);
        continue;
      }
      const res = await fetch(url, { method: op.method, headers, body, redirect: 'manual' });
      const text = await res.text();
      const contentType = res.headers.get('content-type');
      expect(res.status, `${op.operationId} → ${res.status} ${text.slice(0, 300)}`).toBeLessThan(400);
      const parsed = contentType?.includes('json') && text ? JSON.parse(text) : text || undefined;
      assertMatchesContract(op.method, op.path.replace(/\{[^}]+\}/g, 'x'), res.status, contentType, parsed);
      served.push(op.operationId);
    }
    expect(served).toHaveLength(contract.operations.size);
  }, 60_000);
});
