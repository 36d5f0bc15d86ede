import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import pg from 'pg';
import { freePort, startEmbeddedPostgres, stopEmbeddedPostgresSync } from '../db/embedded.js';
import type { DB } from '../db/schema/index.js';
import { loadConfig } from '../src/config.js';
import { generateSigningKeys, signingKeysFromPem } from '../src/domain/auth/signing-keys.js';
import type { TokenIssuer } from '../src/domain/auth/sessions.js';
import { creditBalance } from '../src/domain/credits/ledger.js';
import { listTasks } from '../src/domain/tasks/list-tasks.js';
import type { BurstResult, MixedResult, Scenario, ThroughputResult } from './load.js';
import { cpuSeconds, machineCpu, type Child, markGroup, productionServiceEnv, rssMb, sleep, startBundled, startCommand, startNode, startService, stop, stopAll, waitForHttp, waitForLine } from './lib/proc.js';
import { monotonicUs, profileMarkdown, profilesIn, summarizeProfile } from './lib/profile.js';
import { writeReport, type BenchResults, type LargeDbResult } from './lib/report.js';
import { startDbSampler } from './lib/db-sampler.js';
import { explainHotQueries } from './lib/explain.js';
import { loadLargeDatabase } from './lib/large-db.js';
import { searchPhase, syncCatchUpPhase } from './lib/search-sync.js';
import { eventsPhase } from './lib/events.js';
import { costPhase } from './lib/cost.js';
import { syncBatchPhase } from './lib/sync-batch.js';
import { emulateAutoAnalyze, type AutoAnalyze } from './lib/auto-analyze.js';
import { createBenchDatabase, createUsers, mapLimit, openTaskPairs, seedTasks, userWithCredits, type BenchDatabase, type BenchUser } from './lib/setup.js';
import { slope, summarize } from './lib/stats.js';

// `npm run bench`: measures the service on this machine, every figure beside a baseline measured in
// the same run, and writes bench/results/latest.{md,json,svg}. Everything it starts (API, worker,
// baseline server, fake provider, load generators, `npm start`) is a child process stopped by its
// PID in the finally below.
//
//   BENCH_QUICK=1            short durations, for development (the recorded run uses the full ones)
//   BENCH_DATABASE_URL       server for the API benchmarks (default postgres://postgres@127.0.0.1:5432/postgres);
//                            a database of its own is created there and dropped at the end
//   BENCH_ONLY=a,b           only these phases: throughput, mixed, cost, credits, reminders, search, sync,
//                            syncbatch, events, largedb, coldstart
//                            (cost: each category of the mixed workload alone, 100 fresh users × 1 req/s,
//                            QUICK 50, and the CPU per request of the API, PostgreSQL and the worker)
//                            (throughput includes the Fastify peer of bench/peer-fastify/ as a second
//                            baseline; largedb loads 10 000 users × 100 tasks with COPY into a
//                            database of its own, QUICK 1 000 × 100, and EXPLAINs the hot queries)
//                            (search: one user's 100 000 items beside another's 10 000, QUICK 20 000 and
//                            2 000; sync: a client 10 000 changes behind pages GET /sync to the end;
//                            syncbatch: POST /sync with 100 mixed commands, 30 batches (QUICK 8), beside
//                            the same writes as 100 REST calls; events: a GET /events stream for each of
//                            the 1 000 users on the API and a second API process, writes timed to
//                            their event, beside the same writes with one stream open)
//   BENCH_TP_ROUNDS=n        alternating rounds of the throughput phase (default 2; QUICK 1), each full length
//   BENCH_LARGE_USERS=n      users of the large database (default 10 000; QUICK 1 000), 100 tasks each
//   BENCH_KEEP_DB=1          keep the benchmark databases (small and large) instead of dropping them
//   BENCH_PROFILE=1          run the API under --cpu-prof and add the hottest functions to the report
//   BENCH_API_NODE_FLAGS=f   more node flags for the main API process, space-separated (e.g. --perf-basic-prof,
//                            so that `perf record -e cpu-clock -g -p <pid>` names its JavaScript frames)
//   BENCH_OUT=dir            where the results go (default bench/results)
//   BENCH_MIX_SECONDS=n      the mixed workload's measured window (default 300; QUICK 30)
//   BENCH_RATE_PER_USER=r    requests per second of each user in the mixed workload (default 1, issue
//                            18's 1 000 req/s; 0.2, a person acting every 5 s, was the first round's)
//   BENCH_BEFORE_ROOT=dir    a copy of the repository before a change (node_modules linked): the
//                            throughput phase also measures its API, in the same alternating rounds,
//                            so a before/after comparison shares the machine's noise (it runs on our schema: our
//                            migrations it lacks are copied into its db/migrations)

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.env.BENCH_QUICK === '1';
const PROFILE = process.env.BENCH_PROFILE === '1';
const PHASES = ['coldstart', 'throughput', 'mixed', 'cost', 'credits', 'reminders', 'search', 'sync', 'syncbatch', 'events', 'largedb'];
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
const unknownPhases = [...(ONLY ?? [])].filter((p) => !PHASES.includes(p));
if (unknownPhases.length) {
  console.error(`BENCH_ONLY: no phase ${unknownPhases.join(', ')}; the phases are ${PHASES.join(', ')}`);
  process.exit(2);
}
const wants = (phase: string) => !ONLY || ONLY.has(phase);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const OUT = path.resolve(process.env.BENCH_OUT ?? path.join(root, 'bench/results'));
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'perpetua-bench-'));
const LOGS = path.join(WORK, 'logs');

const D = QUICK
  ? { users: 1000, tpWarmup: 2, tpSeconds: 5, tpRounds: 1, tpConnections: 50, mixWarmup: 10, mixSeconds: 30, mixBaseSeconds: 10, ratePerUser: 0.2, costUsers: 50, costWarmup: 2, costSeconds: 8, reminders: 2000, aiCalls: 500, aiCredits: 250, coldLater: 1, searchSmall: 2_000, searchLarge: 20_000, searches: 140, syncChanges: 10_000, syncBatches: 8, eventWrites: 60, eventBursts: 3, largeUsers: 1000, largeMeasured: 100, largeRate: 1, largeWarmup: 3, largeSeconds: 10, largeRounds: 1 }
  : { users: 1000, tpWarmup: 5, tpSeconds: 20, tpRounds: 2, tpConnections: 50, mixWarmup: 30, mixSeconds: 300, mixBaseSeconds: 60, ratePerUser: 1, costUsers: 100, costWarmup: 5, costSeconds: 30, reminders: 100_000, aiCalls: 500, aiCredits: 250, coldLater: 3, searchSmall: 10_000, searchLarge: 100_000, searches: 400, syncChanges: 10_000, syncBatches: 30, eventWrites: 300, eventBursts: 10, largeUsers: 10_000, largeMeasured: 200, largeRate: 1, largeWarmup: 10, largeSeconds: 60, largeRounds: 2 };
// The mixed phase's measured window and each user's pace can be set for a run (say so in the report).
if (process.env.BENCH_MIX_SECONDS) D.mixSeconds = Number(process.env.BENCH_MIX_SECONDS);
if (process.env.BENCH_RATE_PER_USER) D.ratePerUser = Number(process.env.BENCH_RATE_PER_USER);
if (process.env.BENCH_LARGE_USERS) D.largeUsers = Number(process.env.BENCH_LARGE_USERS);
// More alternating throughput rounds (each as long as ever) average out a machine shared with other work.
if (process.env.BENCH_TP_ROUNDS) D.tpRounds = Number(process.env.BENCH_TP_ROUNDS);

/** What the API and the worker run with: production mode, the service's defaults unless stated. */
function serviceEnv(databaseUrl: string, keys: { privatePem: string; publicPem: string }, ai: { baseUrl: string; apiKey: string } | null, port: number): NodeJS.ProcessEnv {
  return {
    ...productionServiceEnv(databaseUrl, keys, port),
    // The limiter runs and counts every request (memory store, the default for one API process);
    // the limits sit above the busiest user of any phase, so the figures measure serving, not 429s.
    RATE_LIMIT_GENERAL: '6000',
    RATE_LIMIT_AI: '1000',
    ...(ai ? { OPENAI_API_KEY: ai.apiKey, OPENAI_BASE_URL: ai.baseUrl } : {}),
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_SERVICE_')).map(([k, v]) => [k.slice('BENCH_SERVICE_'.length), v])),
  };
}

const results: BenchResults = {
  startedAt: new Date().toISOString(),
  quick: QUICK,
  machine: machineInfo(),
  settings: {},
  defaults: {},
  errors: [],
  notes: [],
};

function machineInfo(): BenchResults['machine'] {
  const cpus = os.cpus();
  let vitest: number;
  try {
    vitest = Number(execFileSync('pgrep', ['-fc', 'vitest'], { encoding: 'utf8' }).trim()) || 0;
  } catch {
    vitest = 0; // pgrep exits 1 when nothing matches
  }
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAverageStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    vitestProcessesAtStart: vitest,
  };
}

/** Runs one scenario in a load generator process; `watch` gets the process as soon as it starts (to read its stdout). */
async function runLoad<R>(name: string, scenario: Scenario, watch?: (child: Child) => void): Promise<R> {
  const scenarioFile = path.join(WORK, `${name}.scenario.json`);
  const resultFile = path.join(WORK, `${name}.result.json`);
  fs.writeFileSync(scenarioFile, JSON.stringify(scenario));
  const child = startNode(`load-${name}`, path.join(root, 'bench/load.ts'), { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME }, logDir: LOGS, args: [scenarioFile, resultFile] });
  watch?.(child);
  const code = await child.exited;
  if (code !== 0 || !fs.existsSync(resultFile)) throw new Error(`load generator ${name} failed (${code}); see ${child.logFile}`);
  return JSON.parse(fs.readFileSync(resultFile, 'utf8')) as R;
}

async function phase(name: string, fn: () => Promise<void>): Promise<void> {
  if (!wants(name)) return;
  const started = Date.now();
  console.log(`\n== ${name}`);
  try {
    await fn();
    console.log(`== ${name} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } catch (err) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`== ${name} FAILED: ${message}`);
    results.errors.push({ phase: name, message: err instanceof Error ? err.message : String(err) });
  }
}

/** The statements GET /tasks runs for `userId` (page and count), as Kysely compiles them. */
async function listSql(pool: pg.Pool, userId: string): Promise<CompiledQuery[]> {
  const captured: CompiledQuery[] = [];
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), log: (e) => void (e.level === 'query' && captured.push(e.query)) });
  await listTasks(db, { userId, filter: {}, page: { offset: 0, limit: 25 } });
  return captured;
}

async function api(base: string, method: string, p: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (method !== 'GET') headers['idempotency-key'] = randomUUID();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/api/v1${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// ---------------------------------------------------------------- cold start

async function coldStart(): Promise<void> {
  const runs: { readyMs: number; selfReported: number | null }[] = [];
  const dataDir = path.join(WORK, 'cold-data');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  fs.chmodSync(WORK, 0o755);
  const once = async (i: number) => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: process.env.LANG ?? 'C.UTF-8',
      DATA_DIR: dataDir,
      PORT: String(port),
      EMBEDDED_PG_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    };
    const started = Date.now();
    const child = markGroup(startCommand(`npm-start-${i}`, 'npm', ['start', '--silent'], { cwd: root, env, logDir: LOGS, group: true }));
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 120_000, { child, intervalMs: 25 });
      const readyMs = Date.now() - started;
      const m = /is up in ([\d.]+)s/.exec(child.lines.join('\n'));
      runs.push({ readyMs, selfReported: m ? Number(m[1]) : null });
      console.log(`   npm start #${i + 1}: ready in ${readyMs} ms`);
    } finally {
      await stop(child, 15_000);
      if (fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))) stopEmbeddedPostgresSync(path.join(dataDir, 'pg'));
    }
  };
  for (let i = 0; i <= D.coldLater; i++) await once(i);

  // Baseline: the embedded PostgreSQL alone (initdb + start, then start), on a data dir of its own.
  const baseDir = path.join(WORK, 'cold-baseline', 'pg');
  const base: number[] = [];
  for (let i = 0; i <= D.coldLater; i++) {
    const t = Date.now();
    const server = await startEmbeddedPostgres({ dataDir: baseDir, port: await freePort(), persistent: true });
    base.push(Date.now() - t);
    await server.stop();
  }
  results.coldStart = {
    first: runs[0]!,
    later: runs.slice(1),
    baseline: { firstMs: base[0]!, laterMs: base.slice(1) },
  };
}

// ---------------------------------------------------------------- main

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  console.log(`bench: ${QUICK ? 'QUICK' : 'full'} run; work dir ${WORK}; load average ${results.machine.loadAverageStart.join(' ')}; vitest processes ${results.machine.vitestProcessesAtStart}`);
  if (results.machine.vitestProcessesAtStart > 0) results.notes.push(`${results.machine.vitestProcessesAtStart} vitest process(es) were running when the benchmark started: figures are noisier.`);

  await phase('coldstart', coldStart);

  const needsService = PHASES.filter((p) => p !== 'coldstart').some(wants);
  if (!needsService) return;

  let bench: BenchDatabase | undefined;
  let autoAnalyze: AutoAnalyze | undefined;
  try {
    bench = await createBenchDatabase(ADMIN_URL);
    const server = (await bench.pool.query('select version() as v, current_setting(\'synchronous_commit\') as sc, current_setting(\'fsync\') as fs, current_setting(\'shared_buffers\') as sb, current_setting(\'max_connections\') as mc')).rows[0];
    results.machine.postgres = `${String(server.v).split(' on ')[0]} (fsync ${server.fs}, synchronous_commit ${server.sc}, shared_buffers ${server.sb}, max_connections ${server.mc})`;
    const keys = generateSigningKeys();
    const config = loadConfig({ NODE_ENV: 'production', PUBLIC_API_URL: 'http://127.0.0.1/api/v1', DATABASE_URL: bench.url, JWT_PRIVATE_KEY: keys.privatePem, JWT_PUBLIC_KEY: keys.publicPem });
    const issuer: TokenIssuer = {
      keys: signingKeysFromPem({ privatePem: keys.privatePem, publicPem: keys.publicPem }),
      access: { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, expiresInSeconds: 900 },
      refreshTtlDays: 7,
      refreshReuseGraceSeconds: 10,
    };

    console.log(`setup: ${D.users} users with 25 tasks each in ${bench.name}`);
    const t = Date.now();
    const users = await createUsers(bench.db, issuer, D.users, 'user');
    await seedTasks(bench.db, users);
    await bench.pool.query('analyze');
    autoAnalyze = await emulateAutoAnalyze(bench.pool, { log: console.log });
    results.machine.autovacuum = autoAnalyze.serverHasAutovacuum ? 'on' : 'off, emulated';
    console.log(`setup: done in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    const fakeAi = startNode('fake-ai', path.join(root, 'bench/fake-ai.ts'), { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME }, logDir: LOGS });
    const [, aiUrl, aiKey] = await waitForLine(fakeAi, /^fake-ai (\S+) (\S+)/, 30_000);

    const apiPort = await freePort();
    const env = serviceEnv(bench.url, keys, { baseUrl: aiUrl!, apiKey: aiKey! }, apiPort);
    results.settings = Object.fromEntries(Object.entries(env).filter(([k]) => !/KEY|PATH|HOME|LANG|DATABASE_URL|BASE_URL/.test(k))) as Record<string, string>;
    // What the service runs with where the benchmark sets nothing: read from its own config, not restated.
    const effective = loadConfig(env);
    results.defaults = Object.fromEntries(
      (['DATABASE_POOL_MAX', 'WORKER_CONCURRENCY', 'WORKER_POLL_INTERVAL_MS', 'RATE_LIMIT_STORE'] as const).filter((k) => !(k in env)).map((k) => [k, String(effective[k])]),
    );
    const profileDir = path.join(WORK, 'profiles');
    const apiProc = startService('api', root, 'src/main', { cwd: root, env, logDir: LOGS, nodeFlags: [...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...(process.env.BENCH_API_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])] });
    const worker = startService('worker', root, 'jobs/worker', { cwd: root, env, logDir: LOGS });
    /** CPU seconds used so far by the API, the worker and the whole machine (busy time). */
    const servicesCpu = () => ({ api: cpuSeconds(apiProc.pid) ?? 0, worker: cpuSeconds(worker.pid) ?? 0, machine: machineCpu().busy });
    const base = `http://127.0.0.1:${apiPort}`;
    await waitForHttp(`${base}/health/ready`, 60_000, { child: apiProc });
    await sleep(1000);
    const idleRss = rssMb(apiProc.pid);

    const baselinePort = await freePort();
    const baseline = startNode('baseline', path.join(root, 'bench/baseline-server.ts'), {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(baselinePort), BASELINE_DATABASE_URL: bench.url, BASELINE_SAMPLE_USER: users[0]!.id, BASELINE_POOL_MAX: String(effective.DATABASE_POOL_MAX) },
      logDir: LOGS,
    });
    await waitForLine(baseline, /^baseline listening on (\d+)/, 30_000);
    const baseUrl = `http://127.0.0.1:${baselinePort}`;

    // The peer stack (Fastify 5, bench/peer-fastify): the same operation as a Fastify team would write it.
    let peer: { url: string; pid: number } | null = null;
    let peerProc: Child | null = null;
    const peerProfileDir = path.join(WORK, 'profiles-peer');
    if (wants('throughput')) {
      const port = await freePort();
      const proc = startBundled('peer-fastify', root, 'bench/peer-fastify/server.ts', {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NODE_ENV: 'production',
          PORT: String(port),
          PEER_DATABASE_URL: bench.url,
          PEER_POOL_MAX: String(effective.DATABASE_POOL_MAX),
          PEER_JWT_PUBLIC_KEY: keys.publicPem,
          PEER_JWT_ISSUER: effective.JWT_ISSUER,
          PEER_JWT_AUDIENCE: effective.JWT_AUDIENCE,
          PEER_RATE_LIMIT: String(effective.RATE_LIMIT_GENERAL),
          PEER_RATE_WINDOW_SECONDS: String(effective.RATE_LIMIT_WINDOW_SECONDS),
        },
        logDir: LOGS,
        nodeFlags: PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${peerProfileDir}`] : [],
      });
      peerProc = proc;
      await waitForLine(proc, /^peer listening on (\d+)/, 60_000);
      peer = { url: `http://127.0.0.1:${port}`, pid: proc.pid };
    }

    // The same request must get the same rows from both.
    const probe = await api(base, 'GET', '/tasks', users[0]!.token);
    const probeBase = await (await fetch(`${baseUrl}/api/v1/tasks`, { headers: { authorization: `Bearer ${users[0]!.token}` } })).json() as any;
    if (probe.status !== 200 || probe.body.data.length !== 25 || probeBase.data.length !== 25 || probe.body.data[0].id !== probeBase.data[0].id || probe.body.pagination.total !== probeBase.pagination.total) {
      throw new Error(`the API and the baseline disagree on GET /tasks: ${JSON.stringify(probe.body).slice(0, 300)}`);
    }
    if (peer) await samePeerBody(base, peer.url, users[0]!.token);

    const tokens = users.map((u) => u.token);
    const seeds = await openTaskPairs(bench.db, users);
    const beforeRoot = process.env.BENCH_BEFORE_ROOT ? path.resolve(process.env.BENCH_BEFORE_ROOT) : null;
    let before: { url: string; pid: number } | null = null;
    if (beforeRoot && wants('throughput')) {
      const port = await freePort();
      // The before runs on our schema, as an older process does during a rolling deploy. Its
      // migrator refuses a database with migrations it has no file for, so it gets ours it lacks.
      const theirs = path.join(beforeRoot, 'db', 'migrations');
      for (const file of fs.readdirSync(path.join(root, 'db', 'migrations'))) {
        if (!fs.existsSync(path.join(theirs, file))) fs.copyFileSync(path.join(root, 'db', 'migrations', file), path.join(theirs, file));
      }
      // Compiled like ours: a before under tsx would count the loader's cost as the change's gain.
      const proc = startService('api-before', beforeRoot, 'src/main', { cwd: beforeRoot, env: serviceEnv(bench.url, keys, null, port), logDir: LOGS });
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 60_000, { child: proc });
      before = { url: `http://127.0.0.1:${port}`, pid: proc.pid };
    }
    const throughputWindows: [number, number][] = [];
    const creditsWindows: [number, number][] = [];

    await phase('throughput', async () => {
      const ours: ThroughputResult[] = [];
      const bare: ThroughputResult[] = [];
      const old: ThroughputResult[] = [];
      const fastify: ThroughputResult[] = [];
      const contestants: [string, string, ThroughputResult[], number][] = [['ours', base, ours, apiProc.pid], ['baseline', baseUrl, bare, baseline.pid]];
      if (peer) contestants.splice(1, 0, ['peer', peer.url, fastify, peer.pid]);
      if (before) contestants.splice(1, 0, ['before', before.url, old, before.pid]);
      for (let r = 0; r < D.tpRounds; r++) {
        // Alternating rounds, so a noisy moment hurts both sides alike.
        for (const [who, url, list, pid] of contestants) {
          const cpu0 = cpuSeconds(pid) ?? 0;
          const from = monotonicUs();
          const res = await runLoad<ThroughputResult>(`throughput-${who}-${r}`, { kind: 'throughput', url, path: '/api/v1/tasks', tokens, connections: D.tpConnections, warmupSec: D.tpWarmup, durationSec: D.tpSeconds });
          if (who === 'ours') throughputWindows.push([from, monotonicUs()]);
          res.cpuMsPerRequest = Math.round((((cpuSeconds(pid) ?? 0) - cpu0) * 1e6) / (res.requests + res.warmupRequests)) / 1000;
          console.log(`   ${who} round ${r + 1}: ${res.rps} req/s, p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, CPU ${res.cpuMsPerRequest} ms/request, statuses ${JSON.stringify(res.statuses)}`);
          list.push(res);
        }
      }
      const mean = (l: ThroughputResult[]) => l.reduce((s, x) => s + x.rps, 0) / l.length;
      results.throughput = { connections: D.tpConnections, ours, baseline: bare, oursRps: Math.round(mean(ours)), baselineRps: Math.round(mean(bare)), ratio: Math.round((mean(ours) / mean(bare)) * 1000) / 1000 };
      if (fastify.length) results.throughput.peer = { runs: fastify, rps: Math.round(mean(fastify)), ratio: Math.round((mean(ours) / mean(fastify)) * 1000) / 1000 };
      if (old.length) results.throughput.before = { root: beforeRoot!, runs: old, rps: Math.round(mean(old)), ratio: Math.round((mean(old) / mean(bare)) * 1000) / 1000 };
    });

    await phase('mixed', async () => {
      const rssAt: { at: number; mb: number }[] = [];
      const cpu0 = servicesCpu();
      const started = Date.now();
      const timer = setInterval(() => {
        const mb = rssMb(apiProc.pid);
        if (mb !== null) rssAt.push({ at: Date.now(), mb: Math.round(mb * 10) / 10 });
      }, 1000);
      // The V8 heap in use, from the API's own /metrics: its lowest value in a minute is about the
      // live set after a collection, which tells a leak from a heap V8 has merely let grow.
      const heapAt: { at: number; mb: number }[] = [];
      const heapTimer = setInterval(() => {
        void fetch(`${base}/metrics`)
          .then((res) => res.text())
          .then((text) => {
            const m = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?)/m.exec(text);
            if (m) heapAt.push({ at: Date.now(), mb: Math.round((Number(m[1]) / 2 ** 20) * 10) / 10 });
          })
          .catch(() => {});
      }, 2000);
      const sampler = await startDbSampler(bench!.pool, bench!.name, `${base}/metrics`);
      let ours: MixedResult;
      let db: Awaited<ReturnType<typeof sampler.stop>>;
      try {
        ours = await runLoad<MixedResult>('mixed-ours', { kind: 'mixed', url: base, tokens, seeds, ratePerUser: D.ratePerUser, warmupSec: D.mixWarmup, durationSec: D.mixSeconds });
      } finally {
        clearInterval(timer);
        clearInterval(heapTimer);
        db = await sampler.stop();
      }
      const wall = (Date.now() - started) / 1000;
      const cpu1 = servicesCpu();
      console.log(`   ours: ${ours.achievedRps} req/s of ${ours.intendedRps}, p95 ${ours.latency.p95} ms, p99 ${ours.latency.p99} ms, errors ${ours.errors}`);
      // Every sample on the timeline's clock: seconds from the start of the measured window.
      const from = ours.windowStartEpochMs;
      const samples = rssAt.map((s) => ({ t: Math.round((s.at - from) / 100) / 10, mb: s.mb }));
      // Memory: the measured window (after the warm-up), its trend by least squares.
      const window = samples.filter((s) => s.t >= 0);
      const perMin = slope(window.map((s) => ({ x: s.t / 60, y: s.mb })));
      const firstMin = window.filter((s) => s.t < 60).map((s) => s.mb);
      const lastMin = window.filter((s) => s.t >= D.mixSeconds - 60).map((s) => s.mb);
      const heap = heapAt.map((s) => ({ t: (s.at - from) / 1000, mb: s.mb })).filter((s) => s.t >= 0);
      const heapFloor = (inWindow: (t: number) => boolean) => Math.min(...heap.filter((s) => inWindow(s.t)).map((s) => s.mb));
      const bare = await runLoad<MixedResult>('mixed-baseline', { kind: 'mixed', url: baseUrl, tokens, ratePerUser: D.ratePerUser, warmupSec: Math.min(10, D.mixWarmup), durationSec: D.mixBaseSeconds, listOnly: true });
      console.log(`   baseline (GET /tasks only, same users and pace): p95 ${bare.latency.p95} ms, p99 ${bare.latency.p99} ms`);
      results.mixed = {
        ours,
        baseline: bare,
        warmupSec: D.mixWarmup,
        rss: {
          samples,
          idleMb: idleRss === null ? null : Math.round(idleRss * 10) / 10,
          maxMb: Math.max(...window.map((s) => s.mb)),
          firstMinuteFloorMb: Math.min(...firstMin),
          lastMinuteFloorMb: Math.min(...lastMin),
          slopeMbPerMin: Math.round(perMin * 100) / 100,
          windowMinutes: D.mixSeconds / 60,
        },
        heap: heap.length ? { firstMinuteFloorMb: heapFloor((t) => t < 60), lastMinuteFloorMb: heapFloor((t) => t >= D.mixSeconds - 60), maxMb: Math.max(...heap.map((s) => s.mb)) } : undefined,
        db: {
          windows: db.windows(from, D.mixSeconds),
          checkpoints: db.checkpoints.map((c) => ({ startT: Math.round((c.startedAt - from) / 1000), endT: Math.round((c.endedAt - from) / 1000), syncMs: c.syncMs })),
        },
        cpu: {
          wallSeconds: Math.round(wall),
          apiCores: Math.round(((cpu1.api - cpu0.api) / wall) * 100) / 100,
          workerCores: Math.round(((cpu1.worker - cpu0.worker) / wall) * 100) / 100,
          machineCores: Math.round(((cpu1.machine - cpu0.machine) / wall) * 100) / 100,
        },
      };
      results.explain = await explainList(bench!, users[1]!.id);
    });

    await phase('cost', async () => {
      results.cost = await costPhase({
        bench: bench!,
        issuer,
        base,
        baseUrl,
        pids: { api: apiProc.pid, worker: worker.pid, baseline: baseline.pid },
        users: D.costUsers,
        warmupSec: D.costWarmup,
        durationSec: D.costSeconds,
        runLoad: (name, scenario, watch) => runLoad<MixedResult>(name, scenario, watch),
        log: console.log,
      });
    });

    await phase('credits', async () => {
      const user = await userWithCredits(bench!.db, issuer, D.aiCredits);
      const from = monotonicUs();
      const cpu0 = { api: cpuSeconds(apiProc.pid), ai: cpuSeconds(fakeAi.pid) };
      const res = await runLoad<BurstResult>('credits-ours', { kind: 'burst', url: base, method: 'POST', path: '/api/v1/ai/chat', token: user.token, count: D.aiCalls, body: { message: 'What should I do first today?' } });
      creditsWindows.push([from, monotonicUs()]);
      const cpu1 = { api: cpuSeconds(apiProc.pid), ai: cpuSeconds(fakeAi.pid) };
      const balance = await creditBalance(bench!.db, user.id);
      const ledger = await bench!.pool.query<{ entries: number; sum: number; lots: number }>(
        `select (select count(*)::int from ai_credit_ledger where user_id = $1) as entries,
                (select coalesce(sum(amount), 0)::int from ai_credit_ledger where user_id = $1) as sum,
                (select coalesce(sum(remaining), 0)::int from credit_lots where user_id = $1) as lots`,
        [user.id],
      );
      // Baseline: the same 500 calls straight to the provider: what a chat cannot be faster than.
      const providerCpu0 = cpuSeconds(fakeAi.pid);
      const provider = await runLoad<BurstResult>('credits-provider', { kind: 'burst', url: aiUrl!.replace(/\/v1$/, ''), method: 'POST', path: '/v1/chat/completions', token: aiKey!, count: D.aiCalls, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'What should I do first today?' }] } });
      const l = ledger.rows[0]!;
      const providerCpu = (cpuSeconds(fakeAi.pid) ?? 0) - (providerCpu0 ?? 0);
      const cpu = { api: (cpu1.api ?? 0) - (cpu0.api ?? 0), providerDuringOurs: (cpu1.ai ?? 0) - (cpu0.ai ?? 0), providerAlone: providerCpu };
      results.credits = { calls: D.aiCalls, credits: D.aiCredits, ours: res, provider, balanceAfter: balance.total, succeeded: res.statuses['200'] ?? 0, ledgerSum: l.sum, lotsRemaining: l.lots, ledgerEntries: l.entries, cpu };
      console.log(`   ${results.credits.succeeded} of ${D.aiCalls} succeeded, balance ${balance.total}, statuses ${JSON.stringify(res.statuses)}, p95 ${res.latency.p95} ms (provider alone p95 ${provider.latency.p95} ms); API CPU ${cpu.api.toFixed(2)} s, the provider's ${cpu.providerDuringOurs.toFixed(2)} s (alone ${cpu.providerAlone.toFixed(2)} s)`);
    });

    await phase('reminders', async () => {
      await remindersPhase(bench!, base, users);
    });

    await phase('search', async () => {
      results.search = await searchPhase({ bench: bench!, issuer, base, small: D.searchSmall, large: D.searchLarge, searches: D.searches, cpu: servicesCpu, log: console.log });
      const x = results.search;
      console.log(`   p50 / p95 / p99: ${x.small.items} items ${x.small.latency.p50} / ${x.small.latency.p95} / ${x.small.latency.p99} ms, ${x.large.items} items ${x.large.latency.p50} / ${x.large.latency.p95} / ${x.large.latency.p99} ms`);
    });

    await phase('sync', async () => {
      results.syncCatchUp = await syncCatchUpPhase({ bench: bench!, issuer, base, changes: D.syncChanges, log: console.log });
    });

    await phase('syncbatch', async () => {
      results.syncBatch = await syncBatchPhase({ bench: bench!, issuer, base, batches: D.syncBatches, warmup: 2, log: console.log });
    });

    await phase('events', async () => {
      // A second API process: a change must reach the streams of every process, not only its writer's.
      const port = await freePort();
      const second = startService('api-events', root, 'src/main', { cwd: root, env: serviceEnv(bench!.url, keys, null, port), logDir: LOGS });
      try {
        const other = `http://127.0.0.1:${port}`;
        await waitForHttp(`${other}/health/live`, 60_000, { child: second });
        const [lone] = await createUsers(bench!.db, issuer, 1, 'events-baseline');
        results.events = await eventsPhase({ bench: bench!, users, lone: lone!, bases: [base, other], writes: D.eventWrites, bursts: D.eventBursts, burstSize: 50, log: console.log });
      } finally {
        await stop(second);
      }
    });

    await phase('largedb', async () => {
      results.largeDb = await largeDbPhase({ small: bench!, smallBase: base, smallUsers: users, issuer, keys });
    });

    await stop(apiProc);
    if (PROFILE) {
      const files = profilesIn(profileDir);
      if (files[0]) {
        const sections = [];
        if (throughputWindows.length) sections.push(profileMarkdown(summarizeProfile(files[0], root, 25, throughputWindows), 'API process CPU profile, GET /tasks throughput phase only'));
        if (creditsWindows.length) sections.push(profileMarkdown(summarizeProfile(files[0], root, 25, creditsWindows), 'API process CPU profile, AI burst (credits phase) only'));
        sections.push(profileMarkdown(summarizeProfile(files[0], root), 'API process CPU profile (whole run, start-up included)'));
        results.profile = sections.join('\n\n');
        fs.mkdirSync(path.join(OUT, 'profiles'), { recursive: true });
        fs.copyFileSync(files[0], path.join(OUT, 'profiles', 'api.cpuprofile'));
      }
      // The peer's profile, to read beside ours (not summarized in the report).
      if (peerProc) {
        await stop(peerProc);
        const peerFiles = profilesIn(peerProfileDir);
        if (peerFiles[0]) fs.copyFileSync(peerFiles[0], path.join(OUT, 'profiles', 'peer.cpuprofile'));
      }
    }
  } finally {
    await autoAnalyze?.stop();
    await stopAll();
    if (bench && process.env.BENCH_KEEP_DB !== '1') await bench.drop().catch((err) => console.error('could not drop the bench database', err));
  }
}

/**
 * The peer must serve what we serve: the same body for the same user and query (tests/bench/
 * peer-fastify.test.ts checks more queries), or the comparison would price different work.
 */
async function samePeerBody(ours: string, peer: string, token: string): Promise<void> {
  for (const query of ['', '?completed=false&limit=10', '?offset=20']) {
    const get = async (base: string) => {
      const res = await fetch(`${base}/api/v1/tasks${query}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, text: await res.text() };
    };
    const [a, b] = [await get(ours), await get(peer)];
    if (a.status !== 200 || b.status !== 200 || JSON.stringify(JSON.parse(a.text)) !== JSON.stringify(JSON.parse(b.text))) {
      throw new Error(`the API and the Fastify peer disagree on GET /tasks${query}: ours ${a.status} ${a.text.slice(0, 200)}; peer ${b.status} ${b.text.slice(0, 200)}`);
    }
  }
  console.log('   the API and the Fastify peer answer the same bodies');
}

async function explainList(bench: BenchDatabase, userId: string): Promise<string[]> {
  const out: string[] = [];
  for (const q of await listSql(bench.pool, userId)) {
    const r = await bench.pool.query(`explain (analyze, buffers, costs off) ${q.sql}`, q.parameters as unknown[]);
    out.push([q.sql, '', ...r.rows.map((row) => row['QUERY PLAN'] as string)].join('\n'));
  }
  return out;
}

// ---------------------------------------------------------------- large database

/**
 * The large database (issue 18): loaded with COPY into a database of its own (lib/large-db.ts), an
 * API process of its own on it; GET /tasks latency at the same pace from as many users on both
 * databases, in alternating rounds; the list statements timed without HTTP; and EXPLAIN of each hot
 * query on the large one.
 */
async function largeDbPhase(o: { small: BenchDatabase; smallBase: string; smallUsers: BenchUser[]; issuer: TokenIssuer; keys: { privatePem: string; publicPem: string } }): Promise<LargeDbResult> {
  const large = await createBenchDatabase(ADMIN_URL);
  let api: Child | undefined;
  try {
    console.log(`   loading ${D.largeUsers} users × 100 tasks with COPY into ${large.name}`);
    const load = await loadLargeDatabase(large, o.issuer, { users: D.largeUsers, tasksPerUser: 100, measured: D.largeMeasured, days: 30, log: console.log });
    console.log(`   loaded in ${load.seconds.total} s (${JSON.stringify(load.seconds)}), ${load.sizeMb} MB`);
    const port = await freePort();
    api = startService('api-large', root, 'src/main', { cwd: root, env: serviceEnv(large.url, o.keys, null, port), logDir: LOGS });
    const largeBase = `http://127.0.0.1:${port}`;
    // live, not ready: readiness also wants a worker heartbeat, and no worker runs on this database
    await waitForHttp(`${largeBase}/health/live`, 60_000, { child: api });
    // 100 tasks, 2 of them hidden (lib/large-db.ts)
    const probe = await api_(largeBase, load.users[0]!.token);
    if (probe.status !== 200 || probe.body.data.length !== 25 || probe.body.pagination.total !== 100 - 2) throw new Error(`GET /tasks on the large database: ${probe.status} ${JSON.stringify(probe.body).slice(0, 300)}`);

    const smallTokens = o.smallUsers.slice(0, load.users.length).map((u) => u.token);
    const largeTokens = load.users.map((u) => u.token);
    const rounds: { small: MixedResult; large: MixedResult }[] = [];
    for (let r = 0; r < D.largeRounds; r++) {
      const run = (name: string, url: string, tokens: string[]) => runLoad<MixedResult>(`largedb-${name}-${r}`, { kind: 'mixed', url, tokens, ratePerUser: D.largeRate, warmupSec: D.largeWarmup, durationSec: D.largeSeconds, listOnly: true });
      // Alternating which goes first, so neither always gets the quieter moment.
      let small: MixedResult, big: MixedResult;
      if (r % 2 === 0) {
        small = await run('small', o.smallBase, smallTokens);
        big = await run('large', largeBase, largeTokens);
      } else {
        big = await run('large', largeBase, largeTokens);
        small = await run('small', o.smallBase, smallTokens);
      }
      console.log(`   round ${r + 1}: GET /tasks p50 / p95 / p99 small ${small.latency.p50} / ${small.latency.p95} / ${small.latency.p99} ms, large ${big.latency.p50} / ${big.latency.p95} / ${big.latency.p99} ms; errors ${small.errors} / ${big.errors}`);
      rounds.push({ small, large: big });
    }
    const direct = { small: await timeList(o.small, o.smallUsers.slice(0, load.users.length)), large: await timeList(large, load.users) };
    console.log(`   listTasks without HTTP p50 / p99: small ${direct.small.p50} / ${direct.small.p99} ms, large ${direct.large.p50} / ${direct.large.p99} ms`);
    const explain = await explainHotQueries(large.pool, load.users[0]!.id);
    for (const e of explain) console.log(`   EXPLAIN ${e.name}: ${e.ok ? 'ok' : 'FAILS the check'} (${e.indexes.join(', ') || 'no index'}${e.seqScans.length ? `; Seq Scan on ${e.seqScans.join(', ')}` : ''}), ${e.executionMs} ms`);
    const p99 = (k: 'small' | 'large') => rounds.reduce((s, x) => s + x[k].latency.p99, 0) / rounds.length;
    return { load: { ...load, users: load.users.length }, tasksPerUser: 100, usersTotal: D.largeUsers, ratePerUser: D.largeRate, rounds, p99Small: Math.round(p99('small') * 100) / 100, p99Large: Math.round(p99('large') * 100) / 100, direct, explain };
  } finally {
    if (api) await stop(api);
    if (process.env.BENCH_KEEP_DB !== '1') await large.drop().catch((err) => console.error('could not drop the large database', err));
    else console.log(`   kept the large database ${large.url}`);
  }
}

async function api_(base: string, token: string) {
  const res = await fetch(`${base}/api/v1/tasks`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as any };
}

/** listTasks on the benchmark's own pool, one at a time: the database's share of GET /tasks. */
async function timeList(bench: BenchDatabase, users: BenchUser[]) {
  const ms: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    for (const u of users) {
      const t0 = performance.now();
      await listTasks(bench.db, { userId: u.id, filter: {}, page: { offset: 0, limit: 25 } });
      if (pass > 0) ms.push(performance.now() - t0);
    }
  }
  return summarize(ms);
}

// ---------------------------------------------------------------- reminders

async function remindersPhase(bench: BenchDatabase, base: string, users: BenchUser[]): Promise<void> {
  const perTask = 5;
  const tasksNeeded = D.reminders / perTask;
  const owners = Array.from({ length: tasksNeeded }, (_, i) => users[i % users.length]!);
  let t = Date.now();
  const tasks = await mapLimit(owners, 32, async (u, i) => {
    const r = await api(base, 'POST', '/tasks', u.token, { title: `Reminder target ${i}`, due_date: new Date(Date.now() + 3 * 3_600_000).toISOString() });
    if (r.status !== 201) throw new Error(`creating a task for reminders: ${r.status} ${JSON.stringify(r.body)}`);
    return { id: r.body.data.id as string, token: u.token };
  });
  const perRequestMs = (Date.now() - t) / tasksNeeded;
  // All reminders fall due at the same instant, the start of a minute far enough ahead for the
  // reminders to be created first. A reminder costs more than a task (its job is enqueued in the
  // same transaction): at 100 000, 1.5× the task's time fell short.
  const createEstimateMs = perRequestMs * D.reminders * 3 + 30_000;
  const dueAt = new Date(Math.ceil((Date.now() + createEstimateMs) / 60_000) * 60_000);
  console.log(`   ${D.reminders} reminders due at ${dueAt.toISOString()}`);
  t = Date.now();
  await mapLimit(
    // Round by round over the tasks: the five reminders of one task sent at once would queue on
    // the task's lock, each holding a pool connection (bench/fixes.md 25).
    Array.from({ length: perTask }, () => tasks).flat(),
    32,
    async (task) => {
      const r = await api(base, 'POST', `/tasks/${task.id}/reminders`, task.token, { type: 'absolute', scheduled_at: dueAt.toISOString() });
      if (r.status !== 201) throw new Error(`creating a reminder: ${r.status} ${JSON.stringify(r.body)}`);
    },
  );
  if (Date.now() >= dueAt.getTime()) throw new Error('creating the reminders took past their due time; the lag would be wrong');
  console.log(`   created in ${((Date.now() - t) / 1000).toFixed(1)} s; waiting for ${dueAt.toISOString()}`);
  const ids = tasks.map((x) => x.id);
  const count = async () =>
    Number((await bench.pool.query<{ n: number }>('select count(*)::int as n from reminders where task_id = any($1) and fired', [ids])).rows[0]!.n);
  const deadline = dueAt.getTime() + 120_000;
  while (Date.now() < dueAt.getTime()) await sleep(250);
  let fired = 0;
  while (Date.now() < deadline) {
    fired = await count();
    if (fired >= D.reminders) break;
    await sleep(250);
  }
  const lags = (await bench.pool.query<{ lag: number }>('select extract(epoch from fired_at - scheduled_at)::float8 * 1000 as lag from reminders where task_id = any($1) and fired', [ids])).rows.map((r) => r.lag);
  const dup = (await bench.pool.query<{ n: number }>(
    `select count(*)::int as n from (select entity_id from activity_logs where action = 'reminder_fired' and entity_id in (select id from reminders where task_id = any($1)) group by entity_id having count(*) > 1) d`,
    [ids],
  )).rows[0]!.n;
  const notified = (await bench.pool.query<{ n: number }>("select count(*)::int as n from notifications where type = 'reminder' and task_id = any($1)", [ids])).rows[0]!.n;
  const lag = summarize(lags);
  console.log(`   fired ${fired}/${D.reminders}, notifications ${notified}, duplicates ${dup}; lag p95 ${lag.p95} ms, max ${lag.max} ms`);

  // Baseline: graphile-worker alone, same concurrency and poll interval, a task that does nothing,
  // the same number of jobs due at one instant.
  const cfg = loadConfig({});
  const runAt = new Date(Date.now() + 10_000);
  const worker = startNode('baseline-worker', path.join(root, 'bench/baseline-worker.ts'), {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: bench.url, JOBS: String(D.reminders), CONCURRENCY: String(cfg.WORKER_CONCURRENCY), POLL_INTERVAL_MS: String(cfg.WORKER_POLL_INTERVAL_MS), RUN_AT: runAt.toISOString() },
    logDir: LOGS,
  });
  // graphile-worker alone ran about 480 no-op jobs/s here (100 000: 81 227 done in 170 s): give it 5 ms a job.
  const [, json] = await waitForLine(worker, /^baseline-worker (\{.*\})$/, Math.max(180_000, D.reminders * 5));
  await worker.exited;
  const baseLag = JSON.parse(json!) as { done: number; lag: ReturnType<typeof summarize> };
  console.log(`   baseline (graphile-worker, no-op task): ${baseLag.done} done; lag p95 ${baseLag.lag.p95} ms, max ${baseLag.lag.max} ms`);
  results.reminders = { count: D.reminders, dueAt: dueAt.toISOString(), fired, notified, duplicates: dup, lag, baseline: baseLag };
}

try {
  await main();
} catch (err) {
  console.error(err);
  results.errors.push({ phase: 'setup', message: err instanceof Error ? err.message : String(err) });
} finally {
  await stopAll();
  results.finishedAt = new Date().toISOString();
  results.machine.loadAverageEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const fixes = path.join(root, 'bench/fixes.md');
  writeReport(OUT, results, fs.existsSync(fixes) ? fs.readFileSync(fixes, 'utf8') : '');
  console.log(`\nbench: wrote ${path.relative(root, path.join(OUT, 'latest.md'))}; logs in ${LOGS}`);
  process.exit(results.errors.length ? 1 : 0);
}
