import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPeer } from '../../bench/peer-fastify/app.js';
import { startTestApp, testKeyPair, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { newSubtask, newTask } from '../tasks/fixtures.js';

// The benchmark's peer stack (bench/peer-fastify, issue 18) answers GET /api/v1/tasks with the same
// body as the service for the same user and query, so comparing their throughput compares serving
// the same thing. It also refuses what a Fastify route would: no token, a forged one, a bad query.

let t: TestApp;
let pool: pg.Pool;
let peer: FastifyInstance;
let u: TestUser;
let other: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  pool = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  peer = await buildPeer({ pool, publicKeyPem: testKeyPair().publicPem, issuer: t.config.JWT_ISSUER, audience: t.config.JWT_AUDIENCE, rateLimit: { max: 1000, windowMs: 60_000 } });
  u = await signUp(t);
  other = await signUp(t);
  const due = new Date(Date.now() + 86_400_000).toISOString();
  for (let i = 0; i < 30; i++) {
    const task = await newTask(u, { title: `Task ${i}`, priority: (['low', 'medium', 'high'] as const)[i % 3], ...(i % 2 ? { due_date: due } : {}) });
    if (i % 4 === 0) await newSubtask(u, task.id);
    if (i % 5 === 0) expect((await u.api.patch(`/tasks/${task.id}`, { completed: true })).status).toBe(200);
  }
  await newTask(other, { title: 'Not yours' });
});
afterAll(async () => {
  await peer?.close();
  await pool?.end();
  await t?.close();
});

const fromPeer = (token: string, query = '') => peer.inject({ method: 'GET', url: `/api/v1/tasks${query}`, headers: { authorization: `Bearer ${token}` } });

describe('the peer stack (Fastify) on GET /tasks', () => {
  it.each(['', '?limit=10', '?offset=25', '?offset=10&limit=10', '?completed=false', '?completed=true&priority=high', '?priority=low&due_after=2000-01-01T00:00:00Z', '?due_before=2100-01-01T00:00:00Z', '?hidden=true', '?offset=40'])(
    'answers the same body as the service for %j',
    async (query) => {
      const ours = await u.api.get(`/tasks${query}`);
      expect(ours.status, ours.text).toBe(200);
      const res = await fromPeer(u.token, query);
      expect(res.statusCode, res.body).toBe(200);
      expect(JSON.parse(res.body)).toEqual(ours.body);
    },
  );

  it('lists only the caller\'s tasks', async () => {
    const res = JSON.parse((await fromPeer(other.token)).body);
    expect(res.data.map((x: any) => x.title)).toEqual(['Not yours']);
  });

  it('refuses a missing or forged token, and a query outside the contract', async () => {
    expect((await peer.inject({ method: 'GET', url: '/api/v1/tasks' })).statusCode).toBe(401);
    const [h, p] = u.token.split('.');
    expect((await fromPeer(`${h}.${p}.${'A'.repeat(342)}`)).statusCode).toBe(401);
    expect((await fromPeer(u.token, '?limit=101')).statusCode).toBe(400);
    expect((await fromPeer(u.token, '?priority=urgent')).statusCode).toBe(400);
    expect((await fromPeer(u.token, '?due_after=2026-02-01T00:00:00Z&due_before=2026-01-01T00:00:00Z')).statusCode).toBe(400);
  });

  it('counts requests per user and answers 429 past the limit', async () => {
    const tight = await buildPeer({ pool, publicKeyPem: testKeyPair().publicPem, issuer: t.config.JWT_ISSUER, audience: t.config.JWT_AUDIENCE, rateLimit: { max: 2, windowMs: 60_000 } });
    try {
      const get = (token: string) => tight.inject({ method: 'GET', url: '/api/v1/tasks?limit=1', headers: { authorization: `Bearer ${token}` } });
      expect([(await get(u.token)).statusCode, (await get(u.token)).statusCode, (await get(u.token)).statusCode]).toEqual([200, 200, 429]);
      expect((await get(other.token)).statusCode).toBe(200);
    } finally {
      await tight.close();
    }
  });
});
