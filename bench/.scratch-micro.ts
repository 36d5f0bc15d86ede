import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { OpenAPIBackend } from 'openapi-backend';
import { loadContract } from '../src/http/contract.js';
import { generateSigningKeys, signingKeysFromPem } from '../src/domain/auth/signing-keys.js';
import { signAccessToken, verifyAccessToken } from '../src/domain/auth/access-tokens.js';

const contract = loadContract();
async function make(memo: boolean) {
  const api = new OpenAPIBackend({
    definition: structuredClone(contract.document) as any, apiRoot: '/api/v1', quick: true, strict: true, validate: true,
    ajvOpts: { allErrors: true, strict: false },
    customizeAjv: (_a: unknown, opts: object) => { const ajv = new Ajv2020({ ...opts, strict: false, allErrors: true, discriminator: false } as any); addFormats.default(ajv as any); ajv.addFormat('int32', { type: 'number', validate: () => true }).addFormat('int64', { type: 'number', validate: Number.isInteger }); return ajv as any; },
  });
  api.registerSecurityHandler('bearerAuth', () => ({ userId: 'x' }));
  api.register({ notFound: async () => 'nf', validationFail: async (c: any) => 'vf' + JSON.stringify(c.validation.errors), listTasks: async () => 'ok', getTask: async () => 'ok', updateTask: async () => 'ok', unauthorizedHandler: async () => 'unauth' });
  await api.init();
  if (memo) { const ops = api.router.getOperations(); api.router.getOperations = () => ops; }
  return api;
}
const headers = { authorization: 'Bearer abc', host: 'x', accept: 'application/json', connection: 'keep-alive', 'user-agent': 'x' };
async function time(label: string, n: number, fn: () => Promise<unknown> | unknown) {
  for (let i = 0; i < 200; i++) await fn();
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  console.log(label, (Number(process.hrtime.bigint() - t) / 1e3 / n).toFixed(1), 'µs');
}
for (const memo of [false, true]) {
  const api = await make(memo);
  await time(`handleRequest GET /tasks memo=${memo}`, 3000, async () => { const r = await api.handleRequest({ method: 'GET', path: '/api/v1/tasks', query: {}, headers }); if (r !== 'ok') throw new Error(String(r)); });
  await time(`handleRequest GET /tasks/{id} memo=${memo}`, 3000, async () => { const r = await api.handleRequest({ method: 'GET', path: '/api/v1/tasks/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d', query: {}, headers }); if (r !== 'ok') throw new Error(String(r)); });
  await time(`handleRequest PATCH /tasks/{id} memo=${memo}`, 3000, async () => { const r = await api.handleRequest({ method: 'PATCH', path: '/api/v1/tasks/0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d', query: {}, headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': 'k' }, body: { completed: true } }); if (r !== 'ok') throw new Error(String(r)); });
}
const keys = generateSigningKeys(); const sk = signingKeysFromPem(keys.privatePem, keys.publicPem);
const settings = { issuer: 'i', audience: 'a', expiresInSeconds: 3600 };
const tok = signAccessToken(sk, settings, { sub: 's', email: 'e', tier: 'free', sid: 'x' });
await time('verifyAccessToken', 3000, () => verifyAccessToken(sk, settings, tok));
