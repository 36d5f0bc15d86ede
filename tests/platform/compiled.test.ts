import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONTRACT_PATH, loadContract } from '../../src/core/contract.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { createTestDatabase } from '../helpers/app.js';
import { serviceEnv, startService, stopAllServices, type Service } from '../helpers/services.js';

// `npm start` runs the JavaScript `npm run build` compiles into dist/, not the TypeScript under tsx
// that every other test runs: this checks that the compiled service finds its files (migrations,
// contract) and serves.

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let api: Service;

beforeAll(async () => {
  await promisify(execFile)(process.execPath, ['scripts/build.mjs'], { cwd: PROJECT_ROOT });
  database = await createTestDatabase();
  const env = serviceEnv(database.url);
  api = await startService('api', env, { compiled: true });
  await startService('worker', env, { compiled: true });
}, 120_000);
afterAll(async () => {
  await stopAllServices();
  await database?.drop();
});

describe('the compiled service (npm run build, dist/)', () => {
  it('migrates, serves its contract and answers requests, with its worker ready', async () => {
    expect(fs.existsSync(path.join(PROJECT_ROOT, 'dist/scripts/start.js'))).toBe(true);
    const contract = await fetch(`${api.baseUrl}/api/v1/openapi.yaml`);
    expect(await contract.text()).toBe(fs.readFileSync(CONTRACT_PATH, 'utf8'));
    await expect.poll(async () => (await fetch(`${api.baseUrl}/health/ready`)).status, { timeout: 15_000, interval: 100 }).toBe(200);
    const login = await fetch(`${api.baseUrl}/api/v1/auth/dev/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'compiled@example.com' }) });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    const tasks = await fetch(`${api.baseUrl}/api/v1/tasks`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(tasks.status).toBe(200);
    expect(await tasks.json()).toMatchObject({ data: [], pagination: { total: 0 } });
  });

  it('uses the parsed contract it left only for the very text it parsed', () => {
    const built = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'dist/openapi.json'), 'utf8')) as { document: unknown };
    expect(built.document).toEqual(parse(fs.readFileSync(CONTRACT_PATH, 'utf8')));
    // an edited contract (not built again) is parsed from its YAML, never taken from the stale copy
    const edited = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'contract-')), 'openapi.yaml');
    fs.writeFileSync(edited, fs.readFileSync(CONTRACT_PATH, 'utf8').replace(/^( {2}title: ).*$/m, '$1Edited title'));
    expect(loadContract(edited).document.info.title).toBe('Edited title');
    expect(loadContract().document).toEqual(built.document);
  });
});
