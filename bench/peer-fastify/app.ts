import fastifyJwt from '@fastify/jwt';
import fastifyRateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { routeSchemas } from './contract.js';
import { captureListStatements, shapeKey, type ListParam, type ListStatement } from './statements.js';

// The peer stack of issue 18: GET /api/v1/tasks on Fastify 5 as a Fastify team would write it.
//   * route schemas: the querystring validated by Fastify's Ajv (its defaults: coercion, defaults
//     filled in) against listTasks' parameters in openapi.yaml; the 200 body serialized by
//     fast-json-stringify from the contract's TaskListResponse schema (Fastify's default serializer
//     compiler for a route's response schema);
//   * @fastify/jwt: RS256 only, our issuer and audience, the service's public key, fast-jwt's
//     verified-token cache on (ours keeps verified tokens too);
//   * @fastify/rate-limit: in memory, per user (the token's `sub`), the same limit and window as the
//     service is given; it runs after authentication (preHandler), as ours does;
//   * the same SQL as the service (captured from listTasks: statements.ts) through pg, as named
//     prepared statements on a pool of the same size, as the service and the bare server run them.
// What it does not do and ours does (the report says it too, lib/report.ts): no account or
// session-ended check, no request id, metrics or request logging, no security or CORS headers, no
// error envelope of the contract (Fastify's own 400/401/429 bodies), no Idempotency-Key handling.

export interface PeerOptions {
  pool: pg.Pool;
  publicKeyPem: string;
  issuer: string;
  audience: string;
  rateLimit: { max: number; windowMs: number };
}

/** An int32 as OpenAPI means it (the contract's Offset and Limit are `format: int32`). */
const int32 = { type: 'number' as const, validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31 };

interface ListQuery {
  offset: number;
  limit: number;
  completed?: boolean;
  priority?: 'low' | 'medium' | 'high';
  hidden?: boolean;
  due_before?: string;
  due_after?: string;
}

export async function buildPeer(opts: PeerOptions): Promise<FastifyInstance> {
  const schemas = routeSchemas('listTasks');
  const statements = await captureListStatements();
  const app = Fastify({ logger: false, ajv: { customOptions: { formats: { int32 } } } });

  await app.register(fastifyJwt, {
    secret: { public: opts.publicKeyPem },
    verify: { algorithms: ['RS256'], allowedIss: opts.issuer, allowedAud: opts.audience, cache: 10_000 },
  });
  app.addHook('onRequest', async (req) => {
    await req.jwtVerify();
  });
  await app.register(fastifyRateLimit, {
    max: opts.rateLimit.max,
    timeWindow: opts.rateLimit.windowMs,
    hook: 'preHandler',
    keyGenerator: (req) => `user:${(req.user as { sub: string }).sub}`,
  });

  const run = async (s: ListStatement, values: Record<ListParam, unknown>) => (await opts.pool.query({ name: s.name, text: s.text, values: s.params.map((p) => values[p]) })).rows;

  app.get<{ Querystring: ListQuery }>('/api/v1/tasks', { schema: { querystring: schemas.querystring, response: { 200: schemas.response200 } } }, async (req, reply) => {
    const q = req.query;
    const dueBefore = q.due_before === undefined ? undefined : new Date(q.due_before);
    const dueAfter = q.due_after === undefined ? undefined : new Date(q.due_after);
    if (dueBefore && dueAfter && dueAfter > dueBefore) return reply.code(400).send({ error: { code: 'VALIDATION_ERROR', message: 'due_after must not be later than due_before' } });
    const { page, count } = statements.get(shapeKey(q))!;
    const values = { userId: (req.user as { sub: string }).sub, hidden: q.hidden ?? false, completed: q.completed, priority: q.priority, dueBefore, dueAfter, offset: q.offset, limit: q.limit };
    const rows = await run(page, values);
    // The total as the service's toPage computes it: a short page tells it, a full one asks.
    const total = q.offset === 0 && rows.length < q.limit ? rows.length : rows.length > 0 && rows.length < q.limit ? q.offset + rows.length : Number((await run(count, values))[0].n);
    return { data: rows, pagination: { offset: q.offset, limit: q.limit, total, has_more: q.offset + q.limit < total } };
  });
  return app;
}
