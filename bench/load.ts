import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { summarize, type LatencySummary } from './lib/stats.js';

// The load generator: runs in its own process (run.ts starts it), drives one scenario with
// autocannon against a server on 127.0.0.1 and writes what it measured as JSON.
//   node --import tsx bench/load.ts <scenario.json> <result.json>

export interface ThroughputScenario {
  kind: 'throughput';
  url: string;
  path: string;
  /** Bearer tokens, used in turn, one per request. */
  tokens: string[];
  connections: number;
  warmupSec: number;
  durationSec: number;
}

export interface MixedScenario {
  kind: 'mixed';
  url: string;
  /** One connection per user, each with its own token. */
  tokens: string[];
  /** Requests per second of each user. */
  ratePerUser: number;
  warmupSec: number;
  durationSec: number;
  /** Only GET /tasks (for the bare server, which answers nothing else). */
  listOnly?: boolean;
  /**
   * Two open tasks of each user (aligned with `tokens`), the cycle's tasks a and b until it creates
   * its own: users start at different steps of the cycle, so one that starts at a completion has a
   * task to complete.
   */
  seeds?: { a: { id: string; version: number }; b: { id: string; version: number } }[];
  /** Only the cycle's steps of this category, in their order (the cost phase measures each alone). */
  category?: Category;
  /**
   * Open tasks for each user's completions, deletes and reminders, used one after another (aligned
   * with `tokens`): run alone, those steps would otherwise act again and again on the same two tasks.
   */
  targets?: string[][];
  /** Print `window start` and `window end` on stdout at the measured window's edges (for CPU snapshots). */
  announceWindow?: boolean;
}

export interface BurstScenario {
  kind: 'burst';
  url: string;
  method: 'POST';
  path: string;
  token: string;
  /** Requests, all sent at once on as many connections. */
  count: number;
  body: unknown;
}

export type Scenario = ThroughputScenario | MixedScenario | BurstScenario;

export interface ThroughputResult {
  kind: 'throughput';
  requests: number;
  /** Requests answered in the warm-up before the measured window. */
  warmupRequests: number;
  seconds: number;
  rps: number;
  latency: LatencySummary;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Set by run.ts: the server's CPU time per request (warm-up included), from /proc. */
  cpuMsPerRequest?: number;
}

export interface MixedResult {
  kind: 'mixed';
  users: number;
  intendedRps: number;
  achievedRps: number;
  seconds: number;
  latency: LatencySummary;
  byOp: Record<string, { latency: LatencySummary; statuses: Record<string, number> }>;
  byCategory: Record<string, { share: number; latency: LatencySummary }>;
  statuses: Record<string, number>;
  errors: number;
  connectionErrors: number;
  timeouts: number;
  /**
   * Requests that got no answer (the 10 s timeout or a connection error), by when the load generator
   * gave up on them (seconds from the start of the warm-up): autocannon's own counts cover the whole run.
   */
  unanswered?: { warmup: { timeouts: number; other: number }; window: { timeouts: number; other: number }; firstAtSec: number | null; lastAtSec: number | null };
  errorSamples: { op: string; status: number; body: string }[];
  /** When the measured window (after the warm-up) began, epoch ms: aligns other samples with `timeline`. */
  windowStartEpochMs: number;
  /** Per 10 s of the measured window: requests per second and latency percentiles. */
  timeline: { t: number; rps: number; p50: number; p95: number; p99: number }[];
}

export interface BurstResult {
  kind: 'burst';
  count: number;
  statuses: Record<string, number>;
  latency: LatencySummary;
  seconds: number;
  errors: number;
  /** Bodies of the non-2xx answers, by error code. */
  errorCodes: Record<string, number>;
}

const [scenarioFile, resultFile] = process.argv.slice(2);
if (!scenarioFile || !resultFile) {
  console.error('usage: load.ts <scenario.json> <result.json>');
  process.exit(2);
}
const scenario = JSON.parse(fs.readFileSync(scenarioFile, 'utf8')) as Scenario;

const countStatus = (m: Record<string, number>, s: number | string) => (m[String(s)] = (m[String(s)] ?? 0) + 1);

function finished(instance: autocannon.Instance): Promise<autocannon.Result> {
  return new Promise((resolve) => instance.on('done', resolve));
}

async function throughput(s: ThroughputScenario): Promise<ThroughputResult> {
  const run = async (seconds: number) => {
    let i = 0;
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    const instance = autocannon({
      url: s.url,
      connections: s.connections,
      duration: seconds,
      timeout: 10,
      requests: [
        {
          method: 'GET',
          path: s.path,
          setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${s.tokens[i++ % s.tokens.length]}` } }),
        },
      ],
    });
    instance.on('response', (_c, status, _b, ms) => {
      latencies.push(ms);
      countStatus(statuses, status);
    });
    const r = await finished(instance);
    return { r, latencies, statuses };
  };
  const warmupRequests = s.warmupSec > 0 ? (await run(s.warmupSec)).latencies.length : 0;
  const { r, latencies, statuses } = await run(s.durationSec);
  const seconds = (r.finish.getTime() - r.start.getTime()) / 1000;
  return {
    kind: 'throughput',
    requests: latencies.length,
    warmupRequests,
    seconds,
    rps: Math.round((latencies.length / seconds) * 10) / 10,
    latency: summarize(latencies),
    statuses,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}

// ---------------------------------------------------------------- mixed workload

type Op = 'list' | 'get' | 'create' | 'subtask' | 'patch' | 'complete' | 'delete' | 'reminder';
export type Category = 'list/get' | 'create/patch' | 'complete' | 'delete' | 'reminder';
export const CATEGORY: Record<Op, Category> = {
  list: 'list/get',
  get: 'list/get',
  create: 'create/patch',
  subtask: 'create/patch',
  patch: 'create/patch',
  complete: 'complete',
  delete: 'delete',
  reminder: 'reminder',
};

interface Ctx {
  user: number;
  a?: { id: string; version: number };
  b?: { id: string; version: number };
}

const MISSING = '00000000-0000-4000-8000-000000000000';
const json = (body: unknown) => JSON.stringify(body);

/**
 * One user's cycle of 20 requests, 5 % each: 11 list/get (55 %), 5 create/patch (25 %: two tasks,
 * a subtask on each, one edit), 2 completions of tasks that have subtasks (10 %: the completion
 * runs the achievement and streak rules in its transaction), 1 delete (5 %), 1 reminder (5 %).
 * Every cycle creates two tasks and completes both, so a user's active-task count stays level.
 */
function cycle(tokens: string[], errorSample: (op: Op, status: number, body: string) => void, targets?: string[][]): autocannon.Request[] {
  const auth = (ctx: Ctx) => `Bearer ${tokens[ctx.user] ?? tokens[0]}`;
  const inAWeek = () => new Date(Date.now() + 7 * 86_400_000).toISOString();
  const step = (op: Op, build: (ctx: Ctx) => { method: string; path: string; body?: unknown }, after?: (ctx: Ctx, body: any) => void): autocannon.Request => ({
    op,
    setupRequest: (req, context) => {
      const ctx = context as Ctx;
      const r = build(ctx);
      const headers: Record<string, string> = { authorization: auth(ctx), accept: 'application/json' };
      if (r.method !== 'GET') headers['idempotency-key'] = randomUUID();
      if (r.body !== undefined) headers['content-type'] = 'application/json';
      return { ...req, method: r.method, path: `/api/v1${r.path}`, headers, body: r.body === undefined ? Buffer.alloc(0) : json(r.body) };
    },
    onResponse: (status, body, context) => {
      if (status >= 300) {
        errorSample(op, status, body);
        return;
      }
      if (after) after(context as Ctx, JSON.parse(body));
    },
  });
  const idOf = (t?: { id: string }) => t?.id ?? MISSING;
  // The next of the user's targets, when it has them; kept outside the context, which autocannon
  // resets at the end of every cycle.
  const used = new Map<number, number>();
  const target = (ctx: Ctx, fallback?: { id: string }) => {
    const list = targets?.[ctx.user];
    if (!list?.length) return idOf(fallback);
    const k = used.get(ctx.user) ?? 0;
    used.set(ctx.user, k + 1);
    return list[k % list.length]!;
  };
  const remember = (key: 'a' | 'b') => (ctx: Ctx, body: any) => {
    ctx[key] = { id: body.data.id, version: body.data.version };
  };
  const bump = (key: 'a' | 'b') => (ctx: Ctx, body: any) => {
    if (ctx[key]) ctx[key]!.version = body.data.version;
  };
  return [
    step('list', () => ({ method: 'GET', path: '/tasks' })),
    step('create', () => ({ method: 'POST', path: '/tasks', body: { title: 'Plan the week', description: 'Go through the inbox and pick three things.', priority: 'high', due_date: inAWeek(), estimated_duration: 45 } }), remember('a')),
    step('get', (c) => ({ method: 'GET', path: `/tasks/${idOf(c.a)}` })),
    step('subtask', (c) => ({ method: 'POST', path: `/tasks/${idOf(c.a)}/subtasks`, body: { title: 'Clear the inbox' } })),
    step('list', () => ({ method: 'GET', path: '/tasks?completed=false' })),
    step('patch', (c) => ({ method: 'PATCH', path: `/tasks/${idOf(c.a)}`, body: { version: c.a?.version ?? 1, title: 'Plan the week ahead', priority: 'medium' } }), bump('a')),
    step('reminder', (c) => ({ method: 'POST', path: `/tasks/${target(c, c.a)}/reminders`, body: { type: 'before', offset_minutes: -30, method: 'in_app' } })),
    step('get', (c) => ({ method: 'GET', path: `/tasks/${idOf(c.a)}` })),
    step('list', () => ({ method: 'GET', path: '/tasks' })),
    step('create', () => ({ method: 'POST', path: '/tasks', body: { title: 'Call the dentist' } }), remember('b')),
    step('get', (c) => ({ method: 'GET', path: `/tasks/${idOf(c.b)}` })),
    step('complete', (c) => ({ method: 'PATCH', path: `/tasks/${target(c, c.a)}`, body: { completed: true } }), bump('a')),
    step('list', () => ({ method: 'GET', path: '/tasks' })),
    step('subtask', (c) => ({ method: 'POST', path: `/tasks/${idOf(c.b)}/subtasks`, body: { title: 'Find the number' } })),
    step('get', (c) => ({ method: 'GET', path: `/tasks/${idOf(c.b)}` })),
    step('list', () => ({ method: 'GET', path: '/tasks?priority=high' })),
    step('complete', (c) => ({ method: 'PATCH', path: `/tasks/${target(c, c.b)}`, body: { completed: true } }), bump('b')),
    step('list', () => ({ method: 'GET', path: '/tasks' })),
    step('delete', (c) => ({ method: 'DELETE', path: `/tasks/${target(c, c.a)}` })),
    step('get', (c) => ({ method: 'GET', path: `/tasks/${idOf(c.b)}` })),
  ];
}

async function mixed(s: MixedScenario): Promise<MixedResult> {
  const users = s.tokens.length;
  const intervalMs = 1000 / s.ratePerUser;
  const errorSamples: MixedResult['errorSamples'] = [];
  const all = cycle(
    s.tokens,
    (op, status, body) => {
      if (errorSamples.length < 25) errorSamples.push({ op, status, body: body.slice(0, 300) });
    },
    s.targets,
  );
  const requests = s.listOnly ? all.slice(0, 1) : s.category ? all.filter((r) => CATEGORY[r.op as Op] === s.category) : all;

  const t0 = performance.now();
  let nextUser = 0;
  // Each user sends its requests at its own steady pace, its phase spread evenly over the interval.
  // (autocannon's connectionRate releases every connection on the same timer tick, a burst of
  // `users` requests each second that no population of people produces.) A request is sent when its
  // slot comes, or at once when the previous answer came back after that slot.
  // Each user also starts at its own step of the cycle (user mod 20), so at every moment the users
  // together send the workload's mix. Starting everyone at step 0 sent the same step from all 1 000
  // users in the same 5 s: waves of 1 000 first completions, then 1 000 deletes, never the mix.
  const setupClient = (client: autocannon.Client) => {
    const user = nextUser++;
    const it = client.requestIterator;
    it.initialContext = { user, ...(s.seeds?.[user] ?? {}) };
    it.resetContext();
    if (!s.listOnly) {
      it.currentRequestIndex = user % it.requests.length;
      it.currentRequest = it.requests[it.currentRequestIndex]!; // the client's own copy of the step
    }
    it.rebuildRequest();
    const send = client._doRequest.bind(client);
    let slot = t0 + (user / users) * intervalMs;
    let pending = false;
    client._doRequest = () => {
      if (pending) return;
      pending = true;
      const wait = slot - performance.now();
      slot = Math.max(slot + intervalMs, performance.now());
      setTimeout(() => {
        pending = false;
        if (!client.destroyed) send();
      }, Math.max(0, wait));
    };
  };

  const t: number[] = [];
  const lat: number[] = [];
  const opIdx: number[] = [];
  const stat: number[] = [];
  const ops = [...new Set(requests.map((r) => r.op as Op))];
  let connectionErrors = 0;
  const givenUp: { at: number; timeout: boolean }[] = [];
  const instance = autocannon({
    url: s.url,
    connections: users,
    duration: s.warmupSec + s.durationSec,
    timeout: 10,
    requests,
    // Each client's first request is built with this context before setupClient gives it its user:
    // no user, so that building it uses none of a real user's targets.
    initialContext: { user: -1 },
    setupClient,
  });
  instance.on('response', (client, status, _bytes, ms) => {
    t.push(performance.now() - t0);
    lat.push(ms);
    opIdx.push(ops.indexOf(client.requestIterator.currentRequest.op as Op));
    stat.push(status);
  });
  if (s.announceWindow) {
    setTimeout(() => console.log('window start'), s.warmupSec * 1000);
    setTimeout(() => console.log('window end'), (s.warmupSec + s.durationSec) * 1000);
  }
  instance.on('reqError', (err) => {
    connectionErrors++;
    givenUp.push({ at: performance.now() - t0, timeout: err.message === 'request timed out' });
  });
  const r = await finished(instance);

  const from = s.warmupSec * 1000;
  const unanswered: NonNullable<MixedResult['unanswered']> = { warmup: { timeouts: 0, other: 0 }, window: { timeouts: 0, other: 0 }, firstAtSec: null, lastAtSec: null };
  for (const g of givenUp) {
    const part = g.at < from ? unanswered.warmup : unanswered.window;
    if (g.timeout) part.timeouts++;
    else part.other++;
    const sec = Math.round(g.at / 100) / 10;
    unanswered.firstAtSec = Math.min(unanswered.firstAtSec ?? sec, sec);
    unanswered.lastAtSec = Math.max(unanswered.lastAtSec ?? sec, sec);
  }
  const measured: number[] = [];
  const statuses: Record<string, number> = {};
  const perOp = new Map<Op, { lat: number[]; statuses: Record<string, number> }>();
  const perCat = new Map<string, number[]>();
  let errors = 0;
  let last = from;
  for (let k = 0; k < t.length; k++) {
    if (t[k]! < from) continue;
    last = Math.max(last, t[k]!);
    const op = ops[opIdx[k]!]!;
    measured.push(lat[k]!);
    countStatus(statuses, stat[k]!);
    if (stat[k]! >= 300) errors++;
    const o = perOp.get(op) ?? { lat: [], statuses: {} };
    o.lat.push(lat[k]!);
    countStatus(o.statuses, stat[k]!);
    perOp.set(op, o);
    const c = perCat.get(CATEGORY[op]) ?? [];
    c.push(lat[k]!);
    perCat.set(CATEGORY[op], c);
  }
  const seconds = Math.min(s.durationSec, (last - from) / 1000);
  const timeline: MixedResult['timeline'] = [];
  const bucketMs = 10_000;
  for (let start = from; start < from + s.durationSec * 1000; start += bucketMs) {
    const b: number[] = [];
    for (let k = 0; k < t.length; k++) if (t[k]! >= start && t[k]! < start + bucketMs) b.push(lat[k]!);
    if (!b.length) continue;
    const sm = summarize(b);
    timeline.push({ t: Math.round((start - from) / 1000), rps: Math.round((b.length / (bucketMs / 1000)) * 10) / 10, p50: sm.p50, p95: sm.p95, p99: sm.p99 });
  }
  const byOp: MixedResult['byOp'] = {};
  for (const [op, o] of perOp) byOp[op] = { latency: summarize(o.lat), statuses: o.statuses };
  const byCategory: MixedResult['byCategory'] = {};
  for (const [cat, l] of perCat) byCategory[cat] = { share: Math.round((l.length / measured.length) * 1000) / 10, latency: summarize(l) };
  return {
    kind: 'mixed',
    users,
    intendedRps: users * s.ratePerUser,
    achievedRps: Math.round((measured.length / seconds) * 10) / 10,
    seconds,
    latency: summarize(measured),
    byOp,
    byCategory,
    statuses,
    errors: errors + r.errors,
    connectionErrors,
    timeouts: r.timeouts,
    unanswered,
    errorSamples,
    windowStartEpochMs: Math.round(performance.timeOrigin + t0 + from),
    timeline,
  };
}

// ---------------------------------------------------------------- burst (AI credits)

async function burst(s: BurstScenario): Promise<BurstResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const errorCodes: Record<string, number> = {};
  const started = performance.now();
  const instance = autocannon({
    url: s.url,
    connections: s.count,
    amount: s.count,
    timeout: 60,
    requests: [
      {
        method: s.method,
        path: s.path,
        setupRequest: (req) => ({
          ...req,
          headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
          body: JSON.stringify(s.body),
        }),
        onResponse: (status, body) => {
          if (status >= 300) {
            let code = 'unparsable';
            try {
              code = JSON.parse(body).error?.code ?? code;
            } catch {}
            countStatus(errorCodes, code);
          }
        },
      },
    ],
  });
  instance.on('response', (_c, status, _b, ms) => {
    latencies.push(ms);
    countStatus(statuses, status);
  });
  const r = await finished(instance);
  return { kind: 'burst', count: latencies.length, statuses, latency: summarize(latencies), seconds: (performance.now() - started) / 1000, errors: r.errors, errorCodes };
}

const result = scenario.kind === 'throughput' ? await throughput(scenario) : scenario.kind === 'mixed' ? await mixed(scenario) : await burst(scenario);
fs.writeFileSync(resultFile, JSON.stringify(result, null, 2));
process.exit(0);
