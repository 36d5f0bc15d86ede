import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../db/embedded.js';
import { loadConfig } from '../src/config.js';
import type { TokenIssuer } from '../src/domain/auth/sessions.js';
import { generateSigningKeys, signingKeysFromPem } from '../src/domain/auth/signing-keys.js';
import { productionServiceEnv, sleep, startService, stopAll, waitForHttp } from './lib/proc.js';
import { createBenchDatabase, createUsers, mapLimit, type BenchDatabase, type BenchUser } from './lib/setup.js';
import { summarize, type LatencySummary } from './lib/stats.js';

// `npm run bench:events`: live updates (GET /events) reaching many open streams. N users each keep
// one stream open on an API process (a child process in production mode, two of them by default,
// the streams split between them); tasks are then written straight into the database, one at a
// time and in bursts, and each is timed from just before its write (so before its commit) to the
// moment its `changes` event is parsed here. Writes bench/results/events.md with p50/p95/p99
// against the target p95 ≤ 1 000 ms (issue #19).
//
//   BENCH_DATABASE_URL   server to use (default postgres://postgres@127.0.0.1:5432/postgres); a
//                        database of its own is created there and dropped at the end
//   BENCH_STREAMS        open streams, one per user (default 1000)
//   BENCH_WRITES         single writes to time (default 300), then BENCH_BURSTS bursts of 50
//   BENCH_APIS           API processes (default 2)

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const STREAMS = Number(process.env.BENCH_STREAMS ?? 1000);
const WRITES = Number(process.env.BENCH_WRITES ?? 300);
const BURSTS = Number(process.env.BENCH_BURSTS ?? 10);
const BURST_SIZE = 50;
const APIS = Number(process.env.BENCH_APIS ?? 2);
const TARGET_P95_MS = 1_000;
const LOGS = fs.mkdtempSync(path.join(os.tmpdir(), 'perpetua-bench-events-'));

/** One open stream: resolves a waiter when the task it waits for arrives in a `changes` event. */
class Stream {
  events = 0;
  private waiting = new Map<string, (at: number) => void>();
  private buffer = '';
  private req: http.ClientRequest | undefined;

  open(base: string, token: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.req = http.request(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, agent: false });
      this.req.on('response', (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /events answered ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.feed(chunk, resolve));
      });
      this.req.on('error', reject);
      this.req.end();
    });
  }

  /** The server writes LF-separated events with one data line each. */
  private feed(chunk: string, first: () => void): void {
    const at = performance.now();
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (!data || !block.includes('event: changes')) continue;
      this.events++;
      first();
      for (const task of (JSON.parse(data.slice(6)) as { tasks: { id: string }[] }).tasks) {
        this.waiting.get(task.id)?.(at);
        this.waiting.delete(task.id);
      }
    }
  }

  arrival(taskId: string): Promise<number> {
    return new Promise((resolve) => this.waiting.set(taskId, resolve));
  }

  close(): void {
    this.req?.destroy();
  }
}

async function timedWrite(bench: BenchDatabase, user: BenchUser, stream: Stream, id: string): Promise<number> {
  const arrived = stream.arrival(id);
  const t0 = performance.now();
  await bench.db.insertInto('task_instances').values({ id, user_id: user.id, title: 'Live' }).execute();
  const at = await Promise.race([arrived, sleep(10_000).then(() => NaN)]);
  if (Number.isNaN(at)) throw new Error(`task ${id} did not reach its stream within 10 s`);
  return at - t0;
}

const row = (name: string, s: LatencySummary) => `| ${name} | ${s.count} | ${s.p50} | ${s.p95} | ${s.p99} | ${s.max} |`;

async function main(): Promise<void> {
  let bench: BenchDatabase | undefined;
  const streams: Stream[] = [];
  try {
    bench = await createBenchDatabase(ADMIN_URL);
    const version = (await bench.pool.query('select version() as v')).rows[0].v as string;
    const keys = generateSigningKeys();
    const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: bench.url, PUBLIC_API_URL: 'http://127.0.0.1/api/v1', JWT_PRIVATE_KEY: keys.privatePem, JWT_PUBLIC_KEY: keys.publicPem });
    const issuer: TokenIssuer = { keys: signingKeysFromPem({ privatePem: keys.privatePem, publicPem: keys.publicPem }), access: { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, expiresInSeconds: 900 }, refreshTtlDays: 7, refreshReuseGraceSeconds: 10 };
    const users = await createUsers(bench.db, issuer, STREAMS, 'events');

    const bases: string[] = [];
    for (let i = 0; i < APIS; i++) {
      const port = await freePort();
      const env: NodeJS.ProcessEnv = { ...productionServiceEnv(bench.url, keys, port), RATE_LIMIT_GENERAL: '100000' };
      startService(`api${i + 1}`, root, 'src/main', { cwd: root, env, logDir: LOGS });
      bases.push(`http://127.0.0.1:${port}`);
    }
    for (const base of bases) await waitForHttp(`${base}/health/live`, 60_000);

    const opened = performance.now();
    await mapLimit(users, 50, async (user, i) => {
      const s = new Stream();
      streams[i] = s;
      await s.open(bases[i % bases.length]!, user.token); // resolves at the first (snapshot) page
    });
    const openSeconds = (performance.now() - opened) / 1000;
    console.log(`${STREAMS} streams open in ${openSeconds.toFixed(1)} s`);
    await sleep(500);

    const { randomUUID } = await import('node:crypto');
    const single: number[] = [];
    for (let k = 0; k < WRITES; k++) {
      const i = Math.floor(Math.random() * users.length);
      single.push(await timedWrite(bench, users[i]!, streams[i]!, randomUUID()));
    }
    const burst: number[] = [];
    for (let b = 0; b < BURSTS; b++) {
      const picked = new Set<number>();
      while (picked.size < Math.min(BURST_SIZE, users.length)) picked.add(Math.floor(Math.random() * users.length));
      burst.push(...(await Promise.all([...picked].map((i) => timedWrite(bench!, users[i]!, streams[i]!, randomUUID())))));
      await sleep(200);
    }
    const all = summarize([...single, ...burst]);
    const pass = all.p95 <= TARGET_P95_MS;
    const md = [
      '# Live updates benchmark',
      '',
      `\`npm run bench:events\` — ${STREAMS} open GET /events streams (one per user) on ${APIS} API process${APIS > 1 ? 'es' : ''} in production mode; a task written straight into the database for a random user, timed from just before the write to the moment its \`changes\` event is parsed by the client (same machine, same clock).`,
      '',
      `**p95 ${all.p95} ms against the target ≤ ${TARGET_P95_MS} ms: ${pass ? 'met' : 'NOT met'}.**`,
      '',
      '| writes | n | p50 ms | p95 ms | p99 ms | max ms |',
      '| --- | --- | --- | --- | --- | --- |',
      row('one at a time', summarize(single)),
      row(`bursts of ${BURST_SIZE} at once`, summarize(burst)),
      row('all', all),
      '',
      `* streams opened: ${STREAMS} in ${openSeconds.toFixed(1)} s (50 at a time; each open counts its first, snapshot, page)`,
      `* date: ${new Date().toISOString()}`,
      `* machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      `* PostgreSQL: ${version.split(' on ')[0]!}`,
      '* a change is handed out once every older transaction has ended (sync\'s commit-safe order): other sessions on a shared server add to these figures',
      '',
    ].join('\n');
    fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
    fs.writeFileSync(path.join(root, 'bench/results/events.md'), md);
    console.log(md);
    if (!pass) process.exitCode = 1;
  } finally {
    for (const s of streams) s?.close();
    await stopAll();
    await bench?.drop();
  }
}

await main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
