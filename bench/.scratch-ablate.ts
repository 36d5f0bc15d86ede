import http from 'node:http';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import express from 'express';
import { createDatabase } from '../db/index.js';
import { listTasks } from '../src/domain/tasks/list-tasks.js';
import { generateSigningKeys, signingKeysFromPem } from '../src/domain/auth/signing-keys.js';
import { signAccessToken } from '../src/domain/auth/access-tokens.js';

const url = process.env.DBURL!;
const { db } = createDatabase(url, { max: 10 });
const users = await db.selectFrom('users').select(['id', 'email']).limit(1000).execute();
const sk = signingKeysFromPem(...Object.values(generateSigningKeys()) as [string, string]);
const tokens = users.map((u) => signAccessToken(sk, { issuer: 'i', audience: 'a', expiresInSeconds: 3600 }, { sub: u.id, email: u.email, tier: 'free', sid: 'x' }));
const userOf = (a?: string) => JSON.parse(Buffer.from(a!.slice(7).split('.')[1]!, 'base64url').toString()).sub;
const variant = process.env.V ?? 'bare-kysely';
if (process.env.SIDE) {
  const { createApp } = await import('../src/app.js'); const { createDeps } = await import('../src/deps.js'); const { loadConfig } = await import('../src/config.js'); const { createLogger } = await import('../src/http/logging.js');
  const k = generateSigningKeys();
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: url, JWT_PRIVATE_KEY: k.privatePem, JWT_PUBLIC_KEY: k.publicPem, LOG_LEVEL: 'warn' });
  const x = createDatabase(url, { max: 2 });
  await createApp(createDeps({ config, db: x.db, pool: x.pool, log: createLogger('warn'), keys: signingKeysFromPem(k.privatePem, k.publicPem) }));
}
let server: http.Server;
if (variant === 'bare-kysely') {
  server = http.createServer(async (req, res) => {
    const body = JSON.stringify(await listTasks(db, userOf(req.headers.authorization), {}, { offset: 0, limit: 25 }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
} else if (variant === 'express-min') {
  const app = express();
  app.get('/api/v1/tasks', async (req, res) => {
    const body = JSON.stringify(await listTasks(db, userOf(req.headers.authorization), {}, { offset: 0, limit: 25 }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  server = http.createServer(app);
} else if (variant.startsWith('express-nodb')) {
  const app = express();
  const mw = variant.split('+').slice(1);
  if (mw.includes('helmet')) app.use((await import('helmet')).default({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }, crossOriginResourcePolicy: { policy: 'cross-origin' }, frameguard: { action: 'deny' }, strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true } }));
  if (mw.includes('cors')) app.use((await import('cors')).default({ origin: ['http://localhost:3000'], methods: ['GET'], maxAge: 600 }));
  if (mw.includes('json')) app.use(express.json());
  if (mw.includes('track')) { const { requestTracking } = await import('../src/http/request-state.js'); const { createMetrics } = await import('../src/http/metrics.js'); const { createLogger } = await import('../src/http/logging.js'); app.use(requestTracking(createLogger('warn'), createMetrics())); }
  const cached = JSON.stringify(await listTasks(db, users[0]!.id, {}, { offset: 0, limit: 25 }));
  app.get('/api/v1/tasks', (req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(cached); });
  server = http.createServer(app);
} else if (variant === 'bare-nodb') {
  const cached = JSON.stringify(await listTasks(db, users[0]!.id, {}, { offset: 0, limit: 25 }));
  server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(cached); });
} else {
  const app = express();
  app.use(express.json());
  app.get('/api/v1/tasks', async (req, res) => {
    res.json(await listTasks(db, userOf(req.headers.authorization), {}, { offset: 0, limit: 25 }));
  });
  server = http.createServer(app);
}
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as any).port;
const scen = (sec: number) => fs.writeFileSync('/tmp/bprof/s2.json', JSON.stringify({ kind: 'throughput', url: `http://127.0.0.1:${port}`, path: '/api/v1/tasks', tokens, connections: 20, warmupSec: 0, durationSec: sec }));
const load = () => new Promise<void>((r) => spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts', '/tmp/bprof/s2.json', '/tmp/bprof/r2.json'], { stdio: 'inherit' }).on('exit', () => r()));
scen(3); await load();
const c0 = process.cpuUsage(); scen(6); await load(); const c1 = process.cpuUsage(c0);
const r = JSON.parse(fs.readFileSync('/tmp/bprof/r2.json', 'utf8'));
console.log(variant, 'rps', r.rps, 'cpu ms/req', ((c1.user + c1.system) / 1000 / r.requests).toFixed(3));
server.close(); await db.destroy(); process.exit(0);
