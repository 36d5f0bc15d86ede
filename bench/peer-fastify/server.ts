import pg from 'pg';
import { buildPeer } from './app.js';

// The peer stack as a process of its own (bench/run.ts starts it beside the API and the bare server).
//   PEER_DATABASE_URL, PEER_POOL_MAX (the API's pool size), PEER_JWT_PUBLIC_KEY (PEM), PEER_JWT_ISSUER,
//   PEER_JWT_AUDIENCE, PEER_RATE_LIMIT (requests per window and user), PEER_RATE_WINDOW_SECONDS, PORT
// It prints `peer listening on <port>` when ready.

const need = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};

const pool = new pg.Pool({ connectionString: need('PEER_DATABASE_URL'), max: Number(process.env.PEER_POOL_MAX ?? 10), application_name: 'bench-peer-fastify' });
const app = await buildPeer({
  pool,
  publicKeyPem: need('PEER_JWT_PUBLIC_KEY'),
  issuer: need('PEER_JWT_ISSUER'),
  audience: need('PEER_JWT_AUDIENCE'),
  rateLimit: { max: Number(need('PEER_RATE_LIMIT')), windowMs: Number(process.env.PEER_RATE_WINDOW_SECONDS ?? 60) * 1000 },
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const address = app.server.address();
console.log(`peer listening on ${typeof address === 'object' && address ? address.port : '?'}`);
const shutdown = () => void app.close().then(() => pool.end()).then(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
