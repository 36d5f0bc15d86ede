import { performance } from 'node:perf_hooks';
import type { TokenIssuer } from '../../src/domain/auth/sessions.js';
import type { Category, MixedResult, Scenario } from '../load.js';
import { cpuSeconds, machineCpu, postgresCpu, postgresCpuSince, sleep, type Child } from './proc.js';
import { createUsers, openTaskPairs, seedTasks, type BenchDatabase, type BenchUser } from './setup.js';
import type { LatencySummary } from './stats.js';

// The cost phase: what one request of each category of the mixed workload costs in CPU, the API's,
// PostgreSQL's and the worker's. The mixed workload cannot say it: its categories run at once on
// the same processes. Here each category runs alone, at a pace the machine keeps up with, and the
// CPU each process used is divided by the answers. Weighted by the mix's shares, the figures say
// how many cores the offered load needs, which is how a miss of the mixed target is shown to be
// the machine's limit or ours.

export interface CategoryCost {
  category: Category;
  /** Answers in the measured window (the CPU is counted over the same window). */
  answered: number;
  achievedRps: number;
  latency: LatencySummary;
  errors: number;
  statuses: Record<string, number>;
  /** CPU milliseconds per answer, beyond what the process uses idle. */
  apiMs: number;
  workerMs: number;
  /** Every PostgreSQL process on this machine (backends and background writers); null when the server runs elsewhere. */
  postgresMs: number | null;
  /** The whole machine (the load generator included). */
  machineMs: number;
}

export interface CostResult {
  users: number;
  ratePerUser: number;
  warmupSec: number;
  durationSec: number;
  categories: CategoryCost[];
  /** CPU milliseconds per second each process used idle, measured before the categories (subtracted from theirs). */
  idle: { api: number; worker: number; baseline: number; postgres: number | null; machine: number; seconds: number };
  /** The bare server answering GET /tasks to the same users at the same pace. */
  baseline: { answered: number; latency: LatencySummary; errors: number; serverMs: number; postgresMs: number | null; machineMs: number };
}

/** The mix's share of each category (bench/load.ts's cycle of 20 requests). */
export const MIX_SHARES: Record<Category, number> = { 'list/get': 0.55, 'create/patch': 0.25, complete: 0.1, delete: 0.05, reminder: 0.05 };

type TargetKind = 'complete' | 'delete' | 'reminder';

/**
 * `perUser` open tasks for each user that the category's requests act on one after another: for
 * completions two subtasks each (one done), as the mix completes tasks with subtasks; a due date on
 * every one, which a reminder relative to it needs.
 */
async function seedTargets(bench: BenchDatabase, users: BenchUser[], perUser: number, kind: TargetKind): Promise<string[][]> {
  const due = new Date(Date.now() + 7 * 86_400_000);
  const out: string[][] = [];
  for (const u of users) {
    const rows = Array.from({ length: perUser }, (_, k) => ({ user_id: u.id, title: `${kind} target #${k + 1}`, description: '', priority: 'medium' as const, due_date: due }));
    const inserted = await bench.db.insertInto('task_instances').values(rows).returning('id').execute();
    if (kind === 'complete') {
      await bench.db
        .insertInto('subtasks')
        .values(inserted.flatMap((t) => [
          { task_id: t.id, title: 'First step', order_index: 0, completed: true, completed_at: new Date() },
          { task_id: t.id, title: 'Second step', order_index: 1, completed: false, completed_at: null },
        ]))
        .execute();
    }
    out.push(inserted.map((t) => t.id));
  }
  return out;
}

export async function costPhase(o: {
  bench: BenchDatabase;
  issuer: TokenIssuer;
  base: string;
  baseUrl: string;
  pids: { api: number; worker: number; baseline: number };
  users: number;
  warmupSec: number;
  durationSec: number;
  runLoad: (name: string, scenario: Scenario, watch?: (child: Child) => void) => Promise<MixedResult>;
  log: (s: string) => void;
}): Promise<CostResult> {
  const ratePerUser = 1;
  const users = await createUsers(o.bench.db, o.issuer, o.users, 'cost');
  await seedTasks(o.bench.db, users);
  await o.bench.pool.query('analyze task_instances, subtasks');
  const tokens = users.map((u) => u.token);
  const seeds = await openTaskPairs(o.bench.db, users);
  // Enough targets for every request of the run, with room for the few the load generator builds and does not send.
  const perUser = Math.ceil(ratePerUser * (o.warmupSec + o.durationSec) * 1.5) + 10;

  const snapshot = () => ({ at: performance.now(), api: cpuSeconds(o.pids.api) ?? 0, worker: cpuSeconds(o.pids.worker) ?? 0, baseline: cpuSeconds(o.pids.baseline) ?? 0, pg: postgresCpu(), machine: machineCpu().busy });
  type Snapshot = ReturnType<typeof snapshot>;
  type Part = 'api' | 'worker' | 'baseline' | 'postgres' | 'machine';
  const used = (a: Snapshot, b: Snapshot, k: Part) => (k === 'postgres' ? (a.pg.size ? postgresCpuSince(a.pg, b.pg) : null) : b[k] - a[k]);

  // What each process does with no requests (the worker's polling, the samplers): milliseconds per second.
  const idleSeconds = Math.max(3, o.warmupSec);
  const i0 = snapshot();
  await sleep(idleSeconds * 1000);
  const i1 = snapshot();
  const wallIdle = (i1.at - i0.at) / 1000;
  const rate = (k: Part) => {
    const u = used(i0, i1, k);
    return u === null ? null : Math.round((u * 1e6) / wallIdle) / 1000;
  };
  const idle: CostResult['idle'] = { api: rate('api')!, worker: rate('worker')!, baseline: rate('baseline')!, postgres: rate('postgres'), machine: rate('machine')!, seconds: Math.round(wallIdle * 10) / 10 };
  o.log(`   idle, CPU ms per second: API ${idle.api}, worker ${idle.worker}, bare server ${idle.baseline}, PostgreSQL ${idle.postgres ?? '—'}, machine ${idle.machine}`);

  /** A run whose CPU is read at the measured window's edges, which the load generator announces. */
  const measure = async (name: string, scenario: Scenario & { kind: 'mixed' }) => {
    let start: Snapshot | undefined;
    let end: Snapshot | undefined;
    let watching: ReturnType<typeof setInterval> | undefined;
    const res = await o.runLoad(name, { ...scenario, announceWindow: true }, (child: Child) => {
      watching = setInterval(() => {
        if (!start && child.lines.includes('window start')) start = snapshot();
        if (!end && child.lines.includes('window end')) end = snapshot();
      }, 5);
    });
    clearInterval(watching);
    if (!start || !end) throw new Error(`${name}: the load generator did not announce its measured window`);
    const wall = (end.at - start.at) / 1000;
    // CPU milliseconds per answer beyond the process's idle use over the same wall time.
    const per = (k: Part) => {
      const u = used(start!, end!, k);
      const idleMs = idle[k];
      if (u === null || idleMs === null) return null;
      // Ticks are 10 ms and idle use wanders a little, so a process doing nothing more can come out just below 0.
      return Math.max(0, Math.round(((u * 1000 - idleMs * wall) / Math.max(1, res.latency.count)) * 1000) / 1000);
    };
    return { res, per };
  };

  const categories: CategoryCost[] = [];
  let baseline: CostResult['baseline'] | undefined;
  for (const category of Object.keys(MIX_SHARES) as Category[]) {
    const targets = category === 'complete' || category === 'delete' || category === 'reminder' ? await seedTargets(o.bench, users, perUser, category) : undefined;
    const m = await measure(`cost-${category.replace('/', '-')}`, { kind: 'mixed', url: o.base, tokens, seeds, ratePerUser, warmupSec: o.warmupSec, durationSec: o.durationSec, category, targets });
    const c: CategoryCost = {
      category,
      answered: m.res.latency.count,
      achievedRps: m.res.achievedRps,
      latency: m.res.latency,
      errors: m.res.errors,
      statuses: m.res.statuses,
      apiMs: m.per('api')!,
      workerMs: m.per('worker')!,
      postgresMs: m.per('postgres'),
      machineMs: m.per('machine')!,
    };
    categories.push(c);
    o.log(`   ${category}: ${c.answered} answers, ${c.achievedRps} req/s, p95 ${c.latency.p95} ms, errors ${c.errors}; CPU per request: API ${c.apiMs} ms, PostgreSQL ${c.postgresMs ?? '—'} ms, worker ${c.workerMs} ms, machine ${c.machineMs} ms`);
    if (category === 'list/get') {
      // The bare server's GET /tasks to the same users right after, while the data is the same.
      const b = await measure('cost-baseline', { kind: 'mixed', url: o.baseUrl, tokens, ratePerUser, warmupSec: o.warmupSec, durationSec: o.durationSec, listOnly: true });
      baseline = { answered: b.res.latency.count, latency: b.res.latency, errors: b.res.errors, serverMs: b.per('baseline')!, postgresMs: b.per('postgres'), machineMs: b.per('machine')! };
      o.log(`   bare server GET /tasks: ${baseline.answered} answers, p95 ${baseline.latency.p95} ms; CPU per request: server ${baseline.serverMs} ms, PostgreSQL ${baseline.postgresMs ?? '—'} ms, machine ${baseline.machineMs} ms`);
    }
  }
  return { users: o.users, ratePerUser, warmupSec: o.warmupSec, durationSec: o.durationSec, categories, idle, baseline: baseline! };
}

/** CPU milliseconds of one request at the mix's shares, by process (null where a part was not measured), and their sum. */
export function mixCost(r: CostResult): { api: number; postgres: number | null; worker: number; total: number } {
  let api = 0;
  let worker = 0;
  let postgres: number | null = 0;
  for (const c of r.categories) {
    const share = MIX_SHARES[c.category];
    api += share * c.apiMs;
    worker += share * c.workerMs;
    postgres = postgres === null || c.postgresMs === null ? null : postgres + share * c.postgresMs;
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const k = { api: round(api), postgres: postgres === null ? null : round(postgres), worker: round(worker) };
  return { ...k, total: k.api + k.worker + (k.postgres ?? 0) };
}
