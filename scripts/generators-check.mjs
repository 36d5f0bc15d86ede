#!/usr/bin/env node
// `npm run generators:check`: the four client generators the frontend uses, each at a pinned version
// (scripts/generators/package.json and its lockfile), generate a client from openapi.yaml into a
// temporary folder, and each client compiles under `tsc --strict` together with a few lines that use
// it as the frontend would: create a task with only a title and the required Idempotency-Key header
// (a call without the header must not compile), and read a nullable enum. Fails naming the generator.
//
// The generators are installed in the temporary folder, not in the project: @hey-api/openapi-ts and
// orval need Node >= 22.18, which `npm ci` with engine-strict refuses on Node 20, and together they
// are ~240 MB the service does not need. On a Node older than that the generators run under the
// newest Node from the npm registry (`npx -y node@26`); tsc is the project's own.
// KEEP_GENERATED=1 keeps the folder and prints its path.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'generators-check-'));
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
const started = Date.now();

function generatorNodeDir() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 18)) return path.dirname(process.execPath);
  const exe = execFileSync('npx', ['-y', 'node@26', '-p', 'process.execPath'], { encoding: 'utf8' }).trim();
  return path.dirname(exe);
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: tmp, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('close', (code) => resolve({ code, out }));
  });
}

// What each generator's client must allow, as the frontend writes it. `@ts-expect-error` lines
// fail the compile when the line below them compiles, i.e. when the header is not required.
const usage = {
  'openapi-typescript': `
import type { components, paths } from './api';
type CreateTask = paths['/tasks']['post'];
export const body: components['schemas']['CreateTaskRequest'] = { title: 'Water the plants' };
export const headers: CreateTask['parameters']['header'] = { 'Idempotency-Key': 'k-1' };
// @ts-expect-error Idempotency-Key is required
export const noKey: CreateTask['parameters']['header'] = {};
export const completedBy: components['schemas']['Task']['completed_by'] = null;
export const manual: components['schemas']['Task']['completed_by'] = 'manual';
`,
  'hey-api': `
import { createTask } from './sdk.gen';
import type { Task } from './types.gen';
import { zCreateTaskRequest, zTask } from './zod.gen';
export const call = () => createTask({ body: { title: 'Water the plants' }, headers: { 'Idempotency-Key': 'k-1' } });
// @ts-expect-error Idempotency-Key is required
export const noKey = () => createTask({ body: { title: 'Water the plants' } });
export const parsed = zCreateTaskRequest.parse({ title: 'Water the plants' });
export const completedBy: Task['completed_by'] = null;
export const fromZod: Task['completed_by'] = zTask.shape.completed_by.parse(null);
`,
  'orval-fetch': `
import { createTask, type CreateTaskRequest, type Task } from './api';
export const body: CreateTaskRequest = { title: 'Water the plants' };
export const call = () => createTask(body, { 'Idempotency-Key': 'k-1' });
// @ts-expect-error Idempotency-Key is required
export const noKey = () => createTask(body);
export const completedBy: Task['completed_by'] = null;
`,
  'orval-react-query': `
import { useCreateTask, type CreateTaskMutationVariables, type Task } from './api';
export const variables: CreateTaskMutationVariables = { data: { title: 'Water the plants' }, headers: { 'Idempotency-Key': 'k-1' } };
// @ts-expect-error Idempotency-Key is required
export const noKey: CreateTaskMutationVariables = { data: { title: 'Water the plants' }, headers: {} };
export const hook = useCreateTask;
export const completedBy: Task['completed_by'] = null;
`,
  'openapi-zod-client': `
import { createApiClient, schemas } from './client';
const api = createApiClient('http://127.0.0.1:8000/api/v1');
export const call = () => api.createTask({ title: 'Water the plants' }, { headers: { 'Idempotency-Key': 'k-1' } });
// @ts-expect-error Idempotency-Key is required
export const noKey = () => api.createTask({ title: 'Water the plants' });
export const parsed = schemas.CreateTaskRequest.parse({ title: 'Water the plants' });
export const completedBy = schemas.Task.shape.completed_by.parse(null);
`,
};

const contract = path.join(tmp, 'openapi.yaml');
const orvalConfig = `export default {
  fetch: { input: { target: ${JSON.stringify(contract)} }, output: { target: './orval-fetch/api.ts', client: 'fetch', headers: true } },
  reactQuery: { input: { target: ${JSON.stringify(contract)} }, output: { target: './orval-react-query/api.ts', client: 'react-query', headers: true, override: { query: { version: 5 } } } },
};
`;

const generators = [
  { name: 'openapi-typescript', dir: 'openapi-typescript', args: ['openapi-typescript', contract, '-o', 'openapi-typescript/api.d.ts'] },
  { name: '@hey-api/openapi-ts (fetch client + zod)', dir: 'hey-api', args: ['openapi-ts', '-i', contract, '-o', 'hey-api', '-p', '@hey-api/client-fetch', '@hey-api/sdk', 'zod', '--no-log-file', '--silent'] },
  { name: 'orval (fetch and react-query)', dirs: ['orval-fetch', 'orval-react-query'], args: ['orval', '--config', 'orval.config.mjs', '--quiet'] },
  { name: 'openapi-zod-client', dir: 'openapi-zod-client', args: ['openapi-zod-client', contract, '-o', 'openapi-zod-client/client.ts', '--export-schemas'] },
];

let failed = 0;
try {
  const nodeDir = generatorNodeDir();
  const env = { ...process.env, PATH: `${nodeDir}${path.delimiter}${process.env.PATH}`, npm_config_engine_strict: 'false' };
  fs.copyFileSync(path.join(root, 'openapi.yaml'), contract);
  fs.writeFileSync(path.join(tmp, 'orval.config.mjs'), orvalConfig);
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(root, 'scripts/generators', f), path.join(tmp, f));
  fs.mkdirSync(path.join(tmp, 'openapi-zod-client'));
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(root, 'scripts/generators/zodios', f), path.join(tmp, 'openapi-zod-client', f));

  const ci = ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];
  const installs = await Promise.all([run('npm', ci, { env }), run('npm', ['--prefix', 'openapi-zod-client', ...ci], { env })]);
  for (const i of installs) if (i.code !== 0) throw new Error(`npm ci of the generators failed:\n${i.out}`);
  console.log(`generators installed under Node ${execFileSync(path.join(nodeDir, 'node'), ['--version'], { encoding: 'utf8' }).trim()} (${((Date.now() - started) / 1000).toFixed(0)} s)`);

  const generated = await Promise.all(generators.map((g) => run('npx', ['--no-install', ...g.args], { env })));
  const tsconfig = { compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'], skipLibCheck: true, types: [] }, include: ['**/*.ts'], exclude: ['node_modules'] };
  const compiles = [];
  generators.forEach((g, i) => {
    if (generated[i].code !== 0) {
      failed++;
      console.log(`FAIL ${g.name}: generation failed\n${generated[i].out.trim().split('\n').slice(-30).join('\n')}`);
      return;
    }
    for (const dir of g.dirs ?? [g.dir]) {
      fs.writeFileSync(path.join(tmp, dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
      fs.writeFileSync(path.join(tmp, dir, 'usage.ts'), usage[dir]);
      compiles.push({ name: `${g.name} → ${dir}`, done: run(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')]) });
    }
  });
  for (const c of compiles) {
    const { code, out } = await c.done;
    if (code === 0) console.log(`ok   ${c.name}: tsc --strict clean`);
    else {
      failed++;
      const errors = out.split('\n').filter((l) => /error TS/.test(l));
      console.log(`FAIL ${c.name}: ${errors.length} tsc error(s)\n${out.trim().split('\n').slice(0, 40).join('\n')}`);
    }
  }
} catch (err) {
  failed++;
  console.error(err instanceof Error ? err.message : err);
} finally {
  if (process.env.KEEP_GENERATED) console.log(`generated clients kept in ${tmp}`);
  else fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`${failed ? 'FAILED' : 'passed'}: generators check in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(failed ? 1 : 0);
