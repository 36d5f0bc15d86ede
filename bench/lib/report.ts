import fs from 'node:fs';
import path from 'node:path';
import type { DbWindow } from './db-sampler.js';
import type { BurstResult, MixedResult, ThroughputResult } from '../load.js';
import type { ExplainedQuery } from './explain.js';
import type { LargeDbLoad } from './large-db.js';
import type { SearchPhaseResult, SyncCatchUpResult } from './search-sync.js';
import { EVENTS_P95_MS, type EventsPhaseResult } from './events.js';
import type { SyncBatchResult } from './sync-batch.js';
import { MIX_SHARES, mixCost, type CostResult } from './cost.js';
import { renderChart, type LatencyGroup } from './chart.js';
import { median, type LatencySummary } from './stats.js';

/** The large-database phase (issue 18). */
export interface LargeDbResult {
  load: Omit<LargeDbLoad, 'users'> & { users: number };
  usersTotal: number;
  tasksPerUser: number;
  ratePerUser: number;
  /** GET /tasks at the same pace from as many users on the small and on the large database, alternating. */
  rounds: { small: MixedResult; large: MixedResult }[];
  p99Small: number;
  p99Large: number;
  /** listTasks without HTTP, one at a time. */
  direct: { small: LatencySummary; large: LatencySummary };
  explain: ExplainedQuery[];
}

export interface BenchResults {
  startedAt: string;
  finishedAt?: string;
  quick: boolean;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGb: number;
    node: string;
    postgres?: string;
    loadAverageStart: number[];
    loadAverageEnd?: number[];
    vitestProcessesAtStart: number;
    /** The server's autovacuum, or 'off, emulated' when the benchmark runs its ANALYZE (bench/lib/auto-analyze.ts). */
    autovacuum?: string;
  };
  settings: Record<string, string>;
  /** The service's own defaults for the settings the benchmark left alone. */
  defaults?: Record<string, string>;
  throughput?: {
    connections: number;
    ours: ThroughputResult[];
    baseline: ThroughputResult[];
    oursRps: number;
    baselineRps: number;
    ratio: number;
    /** The peer stack (bench/peer-fastify) in the same rounds; `ratio` is ours / peer. */
    peer?: { runs: ThroughputResult[]; rps: number; ratio: number };
    /** The same API before a change (BENCH_BEFORE_ROOT), measured in the same rounds. */
    before?: { root: string; runs: ThroughputResult[]; rps: number; ratio: number };
  };
  mixed?: {
    ours: MixedResult;
    baseline: MixedResult;
    warmupSec: number;
    rss: { samples: { t: number; mb: number }[]; idleMb: number | null; maxMb: number; firstMinuteFloorMb: number; lastMinuteFloorMb: number; slopeMbPerMin: number; windowMinutes: number };
    /** The V8 heap in use (the API's /metrics every 2 s): lowest in the first and last minute, highest. */
    heap?: { firstMinuteFloorMb: number; lastMinuteFloorMb: number; maxMb: number };
    cpu: { wallSeconds: number; apiCores: number; workerCores: number; machineCores: number };
    /** The database and the disk, per 10 s window of the timeline (runs from 2026-11-28 on). */
    db?: { windows: DbWindow[]; checkpoints: { startT: number; endT: number; syncMs: number }[] };
  };
  credits?: { calls: number; credits: number; ours: BurstResult; provider: BurstResult; balanceAfter: number; succeeded: number; ledgerSum: number; lotsRemaining: number; ledgerEntries: number; cpu?: { api: number; providerDuringOurs: number; providerAlone: number } };
  reminders?: { count: number; dueAt: string; fired: number; notified: number; duplicates: number; lag: LatencySummary; baseline: { done: number; lag: LatencySummary } };
  coldStart?: { first: { readyMs: number; selfReported: number | null }; later: { readyMs: number; selfReported: number | null }[]; baseline: { firstMs: number; laterMs: number[] } };
  explain?: string[];
  /** Each category of the mixed workload alone, and its CPU per request (bench/lib/cost.ts). */
  cost?: CostResult;
  largeDb?: LargeDbResult;
  search?: SearchPhaseResult;
  syncCatchUp?: SyncCatchUpResult;
  syncBatch?: SyncBatchResult;
  events?: EventsPhaseResult;
  profile?: string;
  errors: { phase: string; message: string }[];
  notes: string[];
}

/** The cost phase: each category of the mixed workload alone, its CPU per request by process. */
function costSection(c: CostResult, offered: number, cpus: number): string[] {
  const f = (x: number | null) => (x === null ? '—' : `${x.toFixed(2)} ms`);
  const k = mixCost(c);
  const total = k.total;
  const b = c.baseline;
  return [
    '## Mixed workload: CPU per request, by category',
    '',
    `Each category of the mixed workload's cycle alone, ${c.users} fresh users × ${c.ratePerUser} req/s (a pace this machine keeps up with), ${c.warmupSec} s warm-up and ${c.durationSec} s measured; completions, deletes and reminders act on open tasks seeded for them (completions on tasks with two subtasks, one done, as in the mix). CPU from \`/proc\` over the measured window (read when the load generator announces its edges), less what each process uses idle (measured for ${c.idle.seconds} s before, in CPU ms per second: API ${c.idle.api}, worker ${c.idle.worker}, bare server ${c.idle.baseline}, PostgreSQL ${c.idle.postgres ?? '—'}, machine ${c.idle.machine}), divided by the window's answers: the API process, the worker, every PostgreSQL process on this machine (its backends and background writers), and the whole machine (the load generator included). The bare server's GET /tasks to the same users at the same pace is the floor.`,
    '',
    table(
      ['category', 'share of the mix', 'answers', 'p50 / p95', 'errors', 'API', 'PostgreSQL', 'worker', 'machine'],
      [
        ...c.categories.map((x) => [x.category, `${Math.round(MIX_SHARES[x.category] * 100)} %`, x.answered, `${ms(x.latency.p50)} / ${ms(x.latency.p95)}`, x.errors, f(x.apiMs), f(x.postgresMs), f(x.workerMs), f(x.machineMs)]),
        ['bare server, GET /tasks', '—', b.answered, `${ms(b.latency.p50)} / ${ms(b.latency.p95)}`, b.errors, `${f(b.serverMs)} (its process)`, f(b.postgresMs), '—', f(b.machineMs)],
      ],
    ),
    '',
    `At the mix's shares a request costs API ${f(k.api)}, PostgreSQL ${f(k.postgres)} and worker ${f(k.worker)}: ${total.toFixed(2)} ms of CPU, so ${offered} req/s needs ${((total * offered) / 1000).toFixed(2)} cores of the machine's ${cpus}, before the load generator's share.`,
    '',
  ];
}

/** Consecutive windows in which a checkpoint was writing or syncing, as spans of the timeline. */
function checkpointSpans(windows: DbWindow[], bucketSec = 10): { startT: number; endT: number }[] {
  const spans: { startT: number; endT: number }[] = [];
  for (const w of windows) {
    if (!w.checkpoint) continue;
    const last = spans[spans.length - 1];
    if (last && last.endT === w.t) last.endT = w.t + bucketSec;
    else spans.push({ startT: w.t, endT: w.t + bucketSec });
  }
  return spans;
}

/** The slowest 10-s windows of the mixed workload next to what the database and the disk did in them. */
function dbWindowsSection(timeline: MixedResult['timeline'], db: NonNullable<NonNullable<BenchResults['mixed']>['db']>): string[] {
  const byT = new Map(db.windows.map((w) => [w.t, w]));
  const slowest = [...timeline].sort((a, b) => b.p99 - a.p99).slice(0, 6).sort((a, b) => a.t - b.t);
  const na = (v: number | null, f: (x: number) => string) => (v === null ? '—' : f(v));
  const rows = slowest.map((p) => {
    const w = byT.get(p.t);
    return [
      `${p.t}–${p.t + 10} s`,
      p.rps,
      ms(p.p95),
      ms(p.p99),
      w ? w.walWaitMax : '—',
      w ? w.poolWaitMax : '—',
      w ? na(w.walMb, (x) => `${x} MB`) : '—',
      w ? na(w.fullPages, String) : '—',
      w ? na(w.diskBusy, (x) => `${Math.round(x * 100)} %`) : '—',
      w ? na(w.diskWriteMs, (x) => `${x} ms`) : '—',
      w?.checkpoint ?? '—',
    ];
  });
  const calm = db.windows.filter((w) => !w.checkpoint);
  const out = ['## Mixed workload: its slowest 10-s windows, and the database in them', ''];
  out.push(
    'Sampled beside the load: backends of the benchmark database waiting for the WAL (`pg_stat_activity`, four times a second; the most at once), requests waiting for the API\'s pool (`db_pool_connections` on `/metrics`, once a second), WAL written and its full-page images (`pg_stat_wal`), the disk\'s busy share and mean write time (`/proc/diskstats`, the whole machine), and whether a checkpoint was writing or syncing (`pg_control_checkpoint()`, `pg_stat_bgwriter`).',
    '',
  );
  out.push(table(['window', 'req/s', 'p95', 'p99', 'WAL waits', 'pool waits', 'WAL', 'full pages', 'disk busy', 'disk write', 'checkpoint'], rows), '');
  const medianOf = (xs: (number | null)[]) => {
    const known = xs.filter((x): x is number => x !== null);
    return known.length ? median(known) : null;
  };
  const calmBusy = medianOf(calm.map((w) => w.diskBusy));
  const calmWrite = medianOf(calm.map((w) => w.diskWriteMs));
  out.push(
    `Windows without a checkpoint: disk busy ${calmBusy === null ? '—' : `${Math.round(calmBusy * 100)} %`}, disk write ${calmWrite === null ? '—' : `${calmWrite} ms`} (medians). Checkpoints in the window: ${
      db.checkpoints.length ? db.checkpoints.map((c) => `${c.startT}–${c.endT} s (sync ${ms(c.syncMs)})`).join('; ') : 'none completed'
    }; a checkpoint wrote buffers during ${db.windows.filter((w) => w.checkpoint).length} of the ${db.windows.length} windows (shaded in the chart).`,
    '',
  );
  return out;
}

interface Row {
  figure: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  met: boolean | null;
}

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const mark = (m: boolean | null) => (m === null ? '—' : m ? '✅ yes' : '❌ **no**');

/** Issue 18: GET /tasks with all middleware at ≥ 0.90 of the bare server, and ahead of the Fastify peer. */
export const THROUGHPUT_TARGET = 0.9;
export const PEER_TARGET = 1.0;

/** Issue 18: search over 100 000 items of one user, and sync catch-up of 10 000 changes. */
export const SEARCH_P95_MS = 15;
export const SYNC_CATCH_UP_MS = 1000;
/** Issue 18: GET /tasks p99 on 10 000 users × 100 tasks within 1.2× the small database's. */
export const LARGE_DB_P99_RATIO = 1.2;

export const RSS_LIMIT_MB = 200;
/**
 * Memory "does not grow": the last minute's floor (its lowest sample, what the process keeps right
 * after a collection) within 5 % of the first minute's, and the trend over the window too. Under
 * load RSS is a garbage-collection sawtooth of ±50 MB: medians of two one-minute windows land on
 * different phases of it (one run: +34.7 MB by medians, +2.0 MB by trend), floors do not.
 */
export const RSS_GROWTH_PCT = 5;

/** Errors of a mixed run: answers that were not 2xx, and requests that got no answer (10 s timeout, connection errors). */
const errorCount = (m: MixedResult, answered: number) => {
  const failed = Object.entries(m.statuses).filter(([k]) => Number(k) >= 300).reduce((s, [, n]) => s + n, 0);
  const u = m.unanswered;
  const when = u && u.firstAtSec !== null
    ? `; given up in the warm-up ${u.warmup.timeouts + u.warmup.other}, in the measured window ${u.window.timeouts + u.window.other}, between ${u.firstAtSec} and ${u.lastAtSec} s from the start`
    : '';
  return `${m.errors}: ${failed} error answers of ${answered} answered, ${m.errors - failed} unanswered (timeouts ${m.timeouts}${when})`;
};

export function figures(r: BenchResults): Row[] {
  const rows: Row[] = [];
  if (r.throughput) {
    const t = r.throughput;
    const o = t.ours.map((x) => x.latency);
    const b = t.baseline.map((x) => x.latency);
    rows.push({ figure: `GET /tasks throughput (25 tasks, all middleware, ${t.connections} connections), to the bare server`, ours: `${t.oursRps} req/s`, baseline: `${t.baselineRps} req/s bare node:http + pg`, ratio: t.ratio.toFixed(2), target: `≥ ${THROUGHPUT_TARGET.toFixed(2)} of baseline`, met: t.ratio >= THROUGHPUT_TARGET });
    if (t.peer) rows.push({ figure: 'GET /tasks throughput, all middleware, to the peer stack (Fastify 5, same rounds)', ours: `${t.oursRps} req/s`, baseline: `${t.peer.rps} req/s Fastify peer`, ratio: t.peer.ratio.toFixed(2), target: `≥ ${PEER_TARGET.toFixed(2)} of the peer`, met: t.peer.ratio >= PEER_TARGET });
    if (t.before) rows.push({ figure: `GET /tasks throughput of the code before the fixes (same rounds; ${path.basename(t.before.root)})`, ours: `${t.before.rps} req/s`, baseline: `${t.baselineRps} req/s`, ratio: t.before.ratio.toFixed(2), target: 'reported', met: null });
    const cpu = (l: ThroughputResult[]) => l.reduce((s, x) => s + (x.cpuMsPerRequest ?? 0), 0) / l.length;
    rows.push({ figure: 'GET /tasks CPU time per request (server process)', ours: `${cpu(t.ours).toFixed(2)} ms`, baseline: `${cpu(t.baseline).toFixed(2)} ms`, ratio: ratio(cpu(t.ours), cpu(t.baseline)), target: 'reported', met: null });
    if (t.peer) rows.push({ figure: 'GET /tasks CPU time per request, the Fastify peer', ours: `${cpu(t.peer.runs).toFixed(2)} ms`, baseline: `${cpu(t.baseline).toFixed(2)} ms`, ratio: ratio(cpu(t.peer.runs), cpu(t.baseline)), target: 'reported', met: null });
    if (t.before) rows.push({ figure: 'GET /tasks CPU time per request, code before the fixes', ours: `${cpu(t.before.runs).toFixed(2)} ms`, baseline: `${cpu(t.baseline).toFixed(2)} ms`, ratio: ratio(cpu(t.before.runs), cpu(t.baseline)), target: 'reported', met: null });
    rows.push({ figure: 'GET /tasks latency at that load, p50 / p99', ours: `${ms(o[0]!.p50)} / ${ms(o[0]!.p99)}`, baseline: `${ms(b[0]!.p50)} / ${ms(b[0]!.p99)}`, ratio: ratio(o[0]!.p99, b[0]!.p99), target: 'reported', met: null });
  }
  if (r.mixed) {
    const { ours, baseline } = r.mixed;
    const total = Object.values(ours.statuses).reduce((s, n) => s + n, 0);
    rows.push({ figure: `Mixed workload, ${ours.users} users × ${(ours.intendedRps / ours.users).toFixed(1)} req/s: errors`, ours: errorCount(ours, total), baseline: errorCount(baseline, Object.values(baseline.statuses).reduce((s, n) => s + n, 0)), ratio: '—', target: '0', met: ours.errors === 0 });
    rows.push({ figure: 'Mixed workload p95', ours: ms(ours.latency.p95), baseline: ms(baseline.latency.p95), ratio: ratio(ours.latency.p95, baseline.latency.p95), target: '≤ 50 ms', met: ours.latency.p95 <= 50 });
    rows.push({ figure: 'Mixed workload p99', ours: ms(ours.latency.p99), baseline: ms(baseline.latency.p99), ratio: ratio(ours.latency.p99, baseline.latency.p99), target: '≤ 100 ms', met: ours.latency.p99 <= 100 });
    rows.push({ figure: 'Mixed workload throughput (achieved / offered)', ours: `${ours.achievedRps} / ${ours.intendedRps} req/s`, baseline: `${baseline.achievedRps} / ${baseline.intendedRps} req/s`, ratio: '—', target: 'keeps up (≥ 99 % of offered)', met: ours.achievedRps >= ours.intendedRps * 0.99 });
    const m = r.mixed.rss;
    rows.push({ figure: 'API RSS under the mixed load (max)', ours: `${m.maxMb.toFixed(0)} MB`, baseline: m.idleMb === null ? '—' : `${m.idleMb.toFixed(0)} MB idle`, ratio: m.idleMb ? ratio(m.maxMb, m.idleMb) : '—', target: `≤ ${RSS_LIMIT_MB} MB`, met: m.maxMb <= RSS_LIMIT_MB });
    const growth = m.lastMinuteFloorMb - m.firstMinuteFloorMb;
    const trend = m.slopeMbPerMin * m.windowMinutes;
    const limit = (m.firstMinuteFloorMb * RSS_GROWTH_PCT) / 100;
    rows.push({
      figure: `API RSS growth over ${m.windowMinutes} min (floor after collections, last minute vs first; trend)`,
      ours: `${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB; ${trend >= 0 ? '+' : ''}${trend.toFixed(1)} MB`,
      baseline: `${m.firstMinuteFloorMb.toFixed(0)} MB first-minute floor`,
      ratio: ratio(m.lastMinuteFloorMb, m.firstMinuteFloorMb),
      target: `no growth (≤ ${RSS_GROWTH_PCT} %)`,
      met: growth <= limit && trend <= limit,
    });
    const h = r.mixed.heap;
    if (h) rows.push({ figure: 'API V8 heap in use under the mixed load: lowest in the first / last minute (the live set after a collection), highest', ours: `${h.firstMinuteFloorMb.toFixed(0)} / ${h.lastMinuteFloorMb.toFixed(0)} MB, highest ${h.maxMb.toFixed(0)} MB`, baseline: '—', ratio: ratio(h.lastMinuteFloorMb, h.firstMinuteFloorMb), target: 'reported', met: null });
  }
  if (r.cost) {
    const k = mixCost(r.cost);
    const b = r.cost.baseline;
    const total = k.total;
    const offered = r.mixed?.ours.intendedRps ?? 1000;
    rows.push({
      figure: `Mixed workload: CPU per request at the mix's shares (each category measured alone), and the cores ${offered} req/s needs`,
      ours: `API ${k.api.toFixed(2)} + PostgreSQL ${k.postgres === null ? '?' : k.postgres.toFixed(2)} + worker ${k.worker.toFixed(2)} = ${total.toFixed(2)} ms: ${((total * offered) / 1000).toFixed(2)} cores`,
      baseline: `bare GET /tasks: server ${b.serverMs.toFixed(2)} + PostgreSQL ${b.postgresMs === null ? '?' : b.postgresMs.toFixed(2)} ms`,
      ratio: b.postgresMs === null ? '—' : ratio(total, b.serverMs + b.postgresMs),
      target: 'reported',
      met: null,
    });
  }
  if (r.search) {
    const x = r.search;
    rows.push({ figure: `Search over ${x.large.items.toLocaleString('en-US')} items of one user, p95 (${x.searches} searches, one at a time)`, ours: ms(x.large.latency.p95), baseline: `${ms(x.small.latency.p95)} on ${x.small.items.toLocaleString('en-US')} items`, ratio: ratio(x.large.latency.p95, x.small.latency.p95), target: `≤ ${SEARCH_P95_MS} ms`, met: x.large.latency.p95 <= SEARCH_P95_MS });
  }
  if (r.syncCatchUp) {
    const x = r.syncCatchUp;
    rows.push({ figure: `Sync catch-up: a client ${x.changes.toLocaleString('en-US')} changes behind pages to the end (limit ${x.limit})`, ours: `${ms(x.totalMs)} in ${x.pages} pages`, baseline: '—', ratio: '—', target: `≤ ${ms(SYNC_CATCH_UP_MS)}`, met: x.totalMs <= SYNC_CATCH_UP_MS });
  }
  if (r.syncBatch) {
    const x = r.syncBatch;
    rows.push({ figure: `Sync batch: POST /sync with ${x.commands} mixed commands, p95 (${x.batches} batches, one at a time)`, ours: ms(x.batch.p95), baseline: `${ms(x.rest.p95)} the same writes as ${x.commands} REST calls, one after another`, ratio: ratio(x.batch.p95, x.rest.p95), target: 'no target (issue 19 asks for the figure)', met: null });
    const all = x.batches * x.commands;
    rows.push({ figure: 'Sync batch: command results `ok`', ours: `${all - x.notOk} of ${all}`, baseline: `${all - x.restFailed} of ${all} REST calls succeeded`, ratio: '—', target: 'every one', met: x.notOk === 0 });
  }
  if (r.events) {
    const x = r.events;
    rows.push({ figure: `Live updates: ${x.open.toLocaleString('en-US')} open streams, commit → delivery p95 (${x.all.count} writes, one at a time and in bursts of ${x.burstSize})`, ours: ms(x.all.p95), baseline: `${ms(x.baseline.all.p95)} with a single stream open (LISTEN/NOTIFY alone ${ms(x.baseline.notify.p95)})`, ratio: ratio(x.all.p95, x.baseline.all.p95), target: `≤ ${ms(EVENTS_P95_MS)}`, met: x.all.count > 0 && x.all.p95 <= EVENTS_P95_MS });
    rows.push({ figure: 'Live updates: streams open, deliveries received and missed', ours: `${x.open} of ${x.streams} open (${x.openAtEnd} still at the end); ${x.received} of ${x.expected} received, ${x.missed} missed`, baseline: `${x.baseline.missed} missed with one stream`, ratio: '—', target: 'every stream, 0 missed', met: x.open === x.streams && x.openAtEnd === x.open && x.missed === 0 });
    rows.push({ figure: `Live updates: one commit with a change for each of the ${x.open} streams' users, delivery p95 / max`, ours: `${ms(x.fanout.p95)} / ${ms(x.fanout.max)}`, baseline: '—', ratio: '—', target: 'reported', met: null });
  }
  if (r.largeDb) {
    const l = r.largeDb;
    const ratioP99 = l.p99Small > 0 ? l.p99Large / l.p99Small : Infinity;
    const users = l.rounds[0]?.large.users ?? 0;
    rows.push({ figure: `Large database (${l.usersTotal} users × ${l.tasksPerUser} tasks, loaded with COPY): GET /tasks p99, ${users} users × ${l.ratePerUser} req/s`, ours: ms(l.p99Large), baseline: `${ms(l.p99Small)} small database`, ratio: ratio(l.p99Large, l.p99Small), target: `≤ ${LARGE_DB_P99_RATIO}× the small database`, met: ratioP99 <= LARGE_DB_P99_RATIO });
    rows.push({ figure: 'Large database: listTasks without HTTP, p50 / p99', ours: `${ms(l.direct.large.p50)} / ${ms(l.direct.large.p99)}`, baseline: `${ms(l.direct.small.p50)} / ${ms(l.direct.small.p99)} small database`, ratio: ratio(l.direct.large.p99, l.direct.small.p99), target: 'reported', met: null });
    const bad = l.explain.filter((e) => !e.ok);
    rows.push({ figure: `Large database: EXPLAIN of the hot queries (${l.explain.length} statements) read through an index, no Seq Scan on the large tables`, ours: bad.length ? `${bad.length} not: ${bad.map((e) => e.name).join('; ')}` : `all ${l.explain.length}`, baseline: '—', ratio: '—', target: 'every one', met: bad.length === 0 });
  }
  if (r.reminders) {
    const x = r.reminders;
    const once = x.fired === x.count && x.notified === x.count && x.duplicates === 0;
    rows.push({ figure: `Reminders: ${x.count} due at one instant, fired once`, ours: `${x.fired} fired, ${x.notified} notified, ${x.duplicates} twice`, baseline: `${x.baseline.done} no-op jobs`, ratio: '—', target: 'every one, once', met: once });
    rows.push({ figure: 'Reminder lag p95', ours: ms(x.lag.p95), baseline: ms(x.baseline.lag.p95), ratio: ratio(x.lag.p95, x.baseline.lag.p95), target: '≤ 5 s', met: x.lag.p95 <= 5000 });
    rows.push({ figure: 'Reminder lag max', ours: ms(x.lag.max), baseline: ms(x.baseline.lag.max), ratio: ratio(x.lag.max, x.baseline.lag.max), target: 'reported', met: null });
  }
  if (r.credits) {
    const c = r.credits;
    rows.push({ figure: `AI credits: ${c.calls} concurrent chats, ${c.credits} credits: succeeded`, ours: `${c.succeeded} (others: ${Object.entries(c.ours.errorCodes).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'})`, baseline: '—', ratio: '—', target: `exactly ${c.credits}`, met: c.succeeded === c.credits });
    rows.push({ figure: 'AI credits: balance after', ours: `${c.balanceAfter} (ledger sum ${c.ledgerSum}, lots ${c.lotsRemaining})`, baseline: '—', ratio: '—', target: '0', met: c.balanceAfter === 0 && c.ledgerSum === 0 && c.lotsRemaining === 0 });
    rows.push({ figure: 'AI chat latency under that burst, p50 / p95', ours: `${ms(c.ours.latency.p50)} / ${ms(c.ours.latency.p95)}`, baseline: `${ms(c.provider.latency.p50)} / ${ms(c.provider.latency.p95)} provider alone`, ratio: ratio(c.ours.latency.p95, c.provider.latency.p95), target: '≤ 2× the provider alone (p95)', met: c.ours.latency.p95 <= 2 * c.provider.latency.p95 });
  }
  if (r.coldStart) {
    const c = r.coldStart;
    rows.push({ figure: 'Cold `npm start` to ready, first run (initdb, migrations)', ours: ms(c.first.readyMs), baseline: `${ms(c.baseline.firstMs)} PostgreSQL alone`, ratio: ratio(c.first.readyMs, c.baseline.firstMs), target: 'reported', met: null });
    if (c.later.length) {
      const later = c.later.map((x) => x.readyMs);
      const worst = Math.max(...later);
      rows.push({ figure: `Cold \`npm start\` to ready, later runs (worst of ${later.length})`, ours: later.map(ms).join(', '), baseline: `${c.baseline.laterMs.map(ms).join(', ')} PostgreSQL alone`, ratio: ratio(worst, Math.max(...c.baseline.laterMs)), target: '≤ 5 s', met: worst <= 5000 });
    }
  }
  return rows;
}

function chartInput(r: BenchResults) {
  const latency: LatencyGroup[] = [];
  const lg = (label: string, s: LatencySummary, baseline = false) => latency.push({ label, p50: s.p50, p95: s.p95, p99: s.p99, baseline });
  if (r.throughput) {
    lg('GET /tasks\nat max load', r.throughput.ours[0]!.latency);
    if (r.throughput.peer) lg('Fastify peer\nat max load', r.throughput.peer.runs[0]!.latency, true);
    lg('bare server\nat max load', r.throughput.baseline[0]!.latency, true);
  }
  if (r.mixed) {
    lg('mixed\nworkload', r.mixed.ours.latency);
    lg('bare server\nsame pace', r.mixed.baseline.latency, true);
    for (const cat of ['list/get', 'create/patch', 'complete', 'delete', 'reminder']) {
      const c = r.mixed.ours.byCategory[cat];
      if (c) lg(`mixed:\n${cat}`, c.latency);
    }
  }
  if (r.credits) {
    lg('AI chat\n500 at once', r.credits.ours.latency);
    lg('provider\nalone', r.credits.provider.latency, true);
  }
  return {
    title: `Perpetua Flow API benchmark, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${r.machine.cpus} cores${r.quick ? ' (QUICK run: short durations)' : ''}`,
    latency,
    latencyTargets: r.mixed ? [{ label: 'mixed p95 target 50 ms', ms: 50 }, { label: 'mixed p99 target 100 ms', ms: 100 }] : [],
    throughput: r.throughput
      ? [
          { label: 'ours', rps: r.throughput.oursRps },
          ...(r.throughput.peer ? [{ label: 'Fastify peer', rps: r.throughput.peer.rps, peer: true }] : []),
          { label: 'bare node:http + pg', rps: r.throughput.baselineRps, baseline: true },
        ]
      : [],
    throughputTarget: THROUGHPUT_TARGET,
    timeline: r.mixed?.ours.timeline ?? [],
    // Older results timed RSS from the phase's start, warm-up included.
    rss: (r.mixed?.rss.samples ?? []).map((s) => ({ t: r.mixed!.ours.windowStartEpochMs ? s.t : s.t - r.mixed!.warmupSec, mb: s.mb })).filter((s) => s.t >= 0),
    checkpoints: checkpointSpans(r.mixed?.db?.windows ?? []),
    rssLimitMb: RSS_LIMIT_MB,
  };
}

const table = (head: string[], rows: (string | number)[][]) => [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export function markdown(r: BenchResults, fixes: string): string {
  const pace = r.mixed ? Math.round((r.mixed.ours.intendedRps / r.mixed.ours.users) * 100) / 100 : 1;
  const rows = figures(r);
  const missed = rows.filter((x) => x.met === false);
  const out: string[] = [];
  out.push('# Benchmark results', '');
  if (r.quick) out.push('> **QUICK run** (`BENCH_QUICK=1`): shortened durations for development; not a recorded result.', '');
  out.push(
    `Run ${r.startedAt} → ${r.finishedAt ?? '?'} with \`npm run bench\`. Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, Node ${r.machine.node}; ${r.machine.postgres ?? 'PostgreSQL: not used'}.`,
    `Load average at start ${r.machine.loadAverageStart.join(' / ')} and at the end ${r.machine.loadAverageEnd?.join(' / ') ?? '?'} (1 / 5 / 15 min); vitest processes running at the start: ${r.machine.vitestProcessesAtStart}.${r.machine.autovacuum ? ` Autovacuum: ${r.machine.autovacuum}${r.machine.autovacuum === 'on' ? '' : ' (the server runs without it; the benchmark analyzes each changed table every minute by autovacuum\'s default rule, bench/lib/auto-analyze.ts)'}.` : ''}`,
    '',
  );
  for (const n of r.notes) out.push(`> ${n}`, '');
  out.push(`**${rows.filter((x) => x.met === true).length} targets met, ${missed.length} missed**${missed.length ? `: ${missed.map((m) => m.figure).join('; ')}` : ''}.`, '');
  out.push(table(['figure', 'ours', 'baseline', 'ratio', 'target', 'met?'], rows.map((x) => [x.figure, x.ours, x.baseline, x.ratio, x.target, mark(x.met)])), '');
  out.push('![latency percentiles, throughput and the mixed workload over time](latest.svg)', '');
  if (r.errors.length) out.push('## Phases that failed', '', ...r.errors.map((e) => `* **${e.phase}**: ${e.message}`), '');

  out.push('## How it was measured', '');
  out.push(
    'Every server is its own process: the API (`node dist/src/main.js`, compiled by `npm run build` as `npm start` runs it), the worker (`dist/jobs/worker.js`), the baseline server (`bench/baseline-server.ts`), the fake AI provider (`tests/fakes/openai.ts` in `bench/fake-ai.ts`) and, for each measurement, a load generator (`bench/load.ts`, autocannon 9). All run on the same 2 cores as PostgreSQL, so the load generator\'s CPU is taken from the servers on both sides of every comparison alike.',
    '',
    `API and worker settings: ${Object.entries(r.settings).map(([k, v]) => `\`${k}=${v}\``).join(', ')}; everything else at the service's defaults (${Object.entries(r.defaults ?? {}).map(([k, v]) => `\`${k}=${v}\`, `).join('')}JSON request logs off at \`warn\`).`,
    '',
    '* **Rate limits.** The whole pipeline runs: request ids and metrics, security and CORS headers, JSON body parsing, the access token (RS256, each token verified once, then kept until it expires), the rate limiter, validation against `openapi.yaml` (Ajv, compiled per operation), idempotency keys on writes. The limiter counts every request; its limits are raised above the busiest single user of any phase (the throughput phase sends each of its 1 000 users about 3 req/s; the burst sends one user 500 chats at once), because a 429 would measure the limit, not the service. The production default of 100/min per user is still above the mixed workload\'s 60/min per user.',
    '* **Accounts.** 1 000 users signed up through the sign-up code of the development sign-in (kickstart credits, achievement state), each with a session and a token signed with the API\'s key; 25 tasks each (5 completed, about a third with two subtasks). The service runs with `NODE_ENV=production`, where the development sign-in does not exist, so the benchmark signs up users through the domain function, not over HTTP.',
    '* **GET /tasks throughput**: 50 connections as fast as they are answered, each request with the next user\'s token, alternating rounds against the API and the baseline. The baseline is node:http + pg: it runs the statements `listTasks` compiles (captured from Kysely\'s log, so the SQL is the same), as named prepared statements on a pool of the API\'s size, and writes the rows with `JSON.stringify`; it reads the user id from the token without checking the signature and has no framework, validation, rate limit or logging.',
    '* **The peer stack** (`bench/peer-fastify/`, in the throughput phase\'s alternating rounds): GET /api/v1/tasks on Fastify 5 as a Fastify team would write it. It does: route schemas taken from `openapi.yaml` (the querystring from listTasks\' parameters, validated by Fastify\'s Ajv with its coercion and defaults; the 200 body serialized by fast-json-stringify from the contract\'s `TaskListResponse`), `@fastify/jwt` RS256 verification with the service\'s public key, issuer and audience (fast-jwt\'s cache of verified tokens on, as ours keeps verified tokens), `@fastify/rate-limit` in memory per user with the service\'s limit and window (after authentication, as ours), and the statements `listTasks` runs, captured from it, as named prepared statements through `pg` on a pool of the API\'s size. It answers the same body as ours for the same user and query (checked before the rounds, and by `tests/bench/peer-fastify.test.ts`). It does not do what ours does on every request: the account and session-ended checks (a token of a deleted account or an ended session still passes), request ids (`X-Request-ID`), Prometheus metrics, request logging (ours logs nothing at `warn` either), security and CORS headers, the contract\'s error envelope (Fastify\'s own 400/401/429 bodies) and the 1970–9999 bound on dates. GET carries no Idempotency-Key, so that costs neither side. It runs compiled by esbuild, as our API runs from `dist/`.',
    `* **Mixed workload**: one keep-alive connection per user; each user sends ${pace} request${pace === 1 ? '' : 's'} per second at its own steady pace (phases spread evenly; issue 18 sets 1 req/s per user, 1 000 req/s offered; \`BENCH_RATE_PER_USER=0.2\` is the first round's pace, a person acting every 5 s), cycling through 20 requests: 11 list/get (55 %), 5 create/patch (25 %: two tasks, a subtask on each, one edit with its version), 2 completions of tasks with subtasks (10 %: achievements and streak in the same transaction), 1 delete (5 %), 1 reminder creation (5 %); writes carry an \`Idempotency-Key\`. Each user starts at its own step of the cycle (user number mod 20, with two of its seeded open tasks as the cycle's first tasks), so the users together send this mix at every moment, not the same step at once. Latency is from sending a request to its last byte; a request whose slot came while the previous one was still out goes as soon as it returns, so a server falling behind shows as achieved < offered throughput. The first seconds are a warm-up and are not counted. Its baseline is the bare server answering GET /tasks to the same 1 000 users at the same pace: the floor of one HTTP exchange plus the list queries on this machine at this concurrency.`,
    '* **Memory**: the API process\'s RSS from `/proc/<pid>/status` every second during the mixed workload; its baseline is the same process idle after start.',
    '* **Reminders**: created through the API (`POST /tasks/{id}/reminders`, absolute, 5 per task), all due at the same whole minute; lag = `fired_at − scheduled_at` of every reminder, read from the database; "once" = one in-app notification and one `reminder_fired` activity entry per reminder. Baseline: graphile-worker alone, same concurrency and poll interval, the same number of no-op jobs due at one instant.',
    '* **AI credits**: one user with exactly 250 purchased credits sends 500 `POST /ai/chat` at once (500 connections, each with its own `Idempotency-Key`); the fake provider answers after 200 ms. Baseline: the same 500 requests straight to the provider.',
    '* **Cold start**: `npm start` (development mode, embedded PostgreSQL in a new temporary `DATA_DIR`) until `GET /health/ready` answers 200, which needs the database, the migrations, the API and a worker heartbeat; first run (initdb) and later runs on the same data. Baseline: the embedded PostgreSQL alone starting on a data directory of its own.',
    '',
  );

  if (r.throughput) {
    out.push('## GET /tasks throughput, by round', '');
    const peer = r.throughput.peer;
    out.push(table(['round', 'ours req/s', 'ours p50 / p99', 'ours CPU/request', ...(peer ? ['peer req/s', 'peer p50 / p99', 'peer CPU/request'] : []), 'baseline req/s', 'baseline p50 / p99', 'baseline CPU/request', 'statuses (ours)'], r.throughput.ours.map((o, i) => {
      const b = r.throughput!.baseline[i]!;
      const f = peer?.runs[i];
      return [i + 1, o.rps, `${ms(o.latency.p50)} / ${ms(o.latency.p99)}`, `${o.cpuMsPerRequest ?? '?'} ms`, ...(f ? [f.rps, `${ms(f.latency.p50)} / ${ms(f.latency.p99)}`, `${f.cpuMsPerRequest ?? '?'} ms`] : []), b.rps, `${ms(b.latency.p50)} / ${ms(b.latency.p99)}`, `${b.cpuMsPerRequest ?? '?'} ms`, JSON.stringify(o.statuses)];
    })), '');
    if (peer) out.push(`Peer statuses: ${peer.runs.map((f) => JSON.stringify(f.statuses)).join('; ')}.`, '');
    const before = r.throughput.before;
    if (before) {
      out.push(`The code before the fixes (\`${before.root}\`), measured in the same rounds: ${before.runs.map((o) => `${o.rps} req/s, p50 ${ms(o.latency.p50)}, ${o.cpuMsPerRequest ?? '?'} ms CPU/request`).join('; ')}.`, '');
    }
  }
  if (r.mixed) {
    const m = r.mixed;
    out.push('## Mixed workload, by operation', '');
    out.push(table(['operation', 'requests', 'p50', 'p95', 'p99', 'max', 'statuses'], Object.entries(m.ours.byOp).map(([op, o]) => [op, o.latency.count, ms(o.latency.p50), ms(o.latency.p95), ms(o.latency.p99), ms(o.latency.max), JSON.stringify(o.statuses)])), '');
    out.push(table(['category', 'share', 'p50', 'p95', 'p99'], Object.entries(m.ours.byCategory).map(([c, o]) => [c, `${o.share} %`, ms(o.latency.p50), ms(o.latency.p95), ms(o.latency.p99)])), '');
    out.push(`CPU during the mixed workload (${m.cpu.wallSeconds} s): API ${m.cpu.apiCores} cores, worker ${m.cpu.workerCores}, the whole machine ${m.cpu.machineCores} of ${r.machine.cpus} (the rest: PostgreSQL and the load generator). Requests with no answer (timeouts and connection errors, warm-up included): ${m.ours.connectionErrors}, of them timeouts ${m.ours.timeouts}.`, '');
    if (m.db) out.push(...dbWindowsSection(m.ours.timeline, m.db));
    if (m.ours.errorSamples.length) out.push('Error samples:', '', ...m.ours.errorSamples.slice(0, 10).map((e) => `* ${e.op} → ${e.status}: \`${e.body.replace(/`/g, "'")}\``), '');
  }
  if (r.cost) out.push(...costSection(r.cost, r.mixed?.ours.intendedRps ?? 1000, r.machine.cpus));
  if (r.credits) {
    const c = r.credits;
    out.push('## AI credits', '', `Statuses: ${JSON.stringify(c.ours.statuses)}; error codes: ${JSON.stringify(c.ours.errorCodes)}; ${c.ledgerEntries} ledger entries. All 500 answered in ${c.ours.seconds.toFixed(1)} s (provider alone: ${c.provider.seconds.toFixed(1)} s); latency p50 ${ms(c.ours.latency.p50)}, p95 ${ms(c.ours.latency.p95)}, p99 ${ms(c.ours.latency.p99)}, max ${ms(c.ours.latency.max)}.${c.cpu ? ` CPU (from /proc): the API ${c.cpu.api.toFixed(2)} s for the burst, ${((c.cpu.api * 1000) / c.calls).toFixed(2)} ms per request; the fake provider ${c.cpu.providerDuringOurs.toFixed(2)} s meanwhile, ${c.cpu.providerAlone.toFixed(2)} s for the same calls sent straight to it.` : ''}`, '');
  }
  if (r.reminders) {
    const x = r.reminders;
    out.push('## Reminders', '', `Due at ${x.dueAt}. Lag p50 ${ms(x.lag.p50)}, p95 ${ms(x.lag.p95)}, p99 ${ms(x.lag.p99)}, max ${ms(x.lag.max)}; graphile-worker alone: p50 ${ms(x.baseline.lag.p50)}, p95 ${ms(x.baseline.lag.p95)}, max ${ms(x.baseline.lag.max)}.`, '');
  }
  if (r.coldStart) {
    const c = r.coldStart;
    out.push('## Cold start', '', table(['run', 'to /health/ready', 'npm start says'], [[1, ms(c.first.readyMs), c.first.selfReported === null ? '—' : `${c.first.selfReported} s`], ...c.later.map((l, i) => [i + 2, ms(l.readyMs), l.selfReported === null ? '—' : `${l.selfReported} s`])]), '');
  }
  if (r.search) {
    const x = r.search;
    out.push('## Search', '', `GET /search of one user with ${x.large.items.toLocaleString('en-US')} items and of another with ${x.small.items.toLocaleString('en-US')} (half tasks, most with a description, three tenths subtasks, a fifth notes; written with COPY, the service's triggers indexing them), the same ${x.searches} queries for each after 30 untimed, one at a time over HTTP against the main API (vocabulary and queries: \`bench/lib/words.ts\`, as \`npm run bench:search\`). \`mean total\` is the mean \`pagination.total\`, which counts at most the 1 000 most recently changed matches a search ranks (docs/decisions/0008).`, '');
    out.push(table(['kind', `p50 / p95 / p99, ${x.small.items} items`, 'mean total', `p50 / p95 / p99, ${x.large.items} items`, 'mean total'], Object.keys(x.large.byKind).map((k) => {
      const a = x.small.byKind[k];
      const b = x.large.byKind[k]!;
      return [k, a ? `${ms(a.latency.p50)} / ${ms(a.latency.p95)} / ${ms(a.latency.p99)}` : '—', a?.meanTotal ?? '—', `${ms(b.latency.p50)} / ${ms(b.latency.p95)} / ${ms(b.latency.p99)}`, b.meanTotal];
    })), '');
    if (x.cpu) {
      const share = (s: number) => `${Math.round((s / x.cpu!.wallSeconds) * 100)} %`;
      out.push(`CPU while the searches ran (${x.cpu.wallSeconds} s, warm-ups included, one search at a time): API ${x.cpu.api} s (${share(x.cpu.api)} of one core), worker ${x.cpu.worker} s (${share(x.cpu.worker)}), the whole machine ${x.cpu.machine} s (${share(x.cpu.machine)} of one core, of ${r.machine.cpus}; the rest is PostgreSQL and the benchmark's client).`, '');
    }
  }
  if (r.syncCatchUp) {
    const x = r.syncCatchUp;
    out.push('## Sync catch-up', '', `A client in step with its user (cursor at the end) falls ${x.changes.toLocaleString('en-US')} changes behind (${x.changes / 2} new tasks written with COPY, then one edit of each), then pages \`GET /sync?limit=${x.limit}\` until \`has_more\` is false, one page after the other: ${x.pages} pages, ${x.objects} objects, ${ms(x.totalMs)} in all; a page p50 ${ms(x.page.p50)}, p95 ${ms(x.page.p95)}, max ${ms(x.page.max)}. The clock starts once every change is visible to sync (it waits for older transactions on the server to end).`, '');
  }
  if (r.syncBatch) {
    const x = r.syncBatch;
    out.push('## Sync batch', '', `\`POST /sync\` with ${x.commands} commands a client queued offline (${Object.entries(x.mix).map(([k, v]) => `${v} ${k}`).join(', ')}; later commands name earlier ones by \`temp_id\`), new uuids each batch, each batch by a fresh free user, one batch at a time against the main API after 2 untimed; timed from sending to the answer's last byte. Baseline: the same writes as ${x.commands} REST calls (\`POST /tasks\`, \`PATCH /tasks/{id}\`, \`POST /tasks/{id}/subtasks\`, \`PATCH /subtasks/{id}\`, \`POST /tasks/{id}/reminders\`, \`POST /notes\`, \`PATCH /notes/{id}\`, each with an \`Idempotency-Key\`) sent one after the other by another fresh user, alternating with the batches. No target: issue 19 asks for the figure.`, '');
    out.push(table(['', 'p50', 'p95', 'p99', 'max', 'not ok'], [
      [`POST /sync, ${x.commands} commands`, ms(x.batch.p50), ms(x.batch.p95), ms(x.batch.p99), ms(x.batch.max), x.notOk],
      [`${x.commands} REST calls, total`, ms(x.rest.p50), ms(x.rest.p95), ms(x.rest.p99), ms(x.rest.max), x.restFailed],
    ]), '');
  }
  if (r.events) {
    const x = r.events;
    const line = (name: string, s: LatencySummary) => [name, s.count, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)];
    out.push('## Live updates', '', `One \`GET /events\` stream per user, ${x.streams} users, split over ${x.apis} API processes (the main API and a second one on the same database), opened 50 at a time (${x.open} open in ${x.openSeconds} s, each counted open at its first, snapshot, page). Tasks are inserted straight into the database for a random open stream's user, one at a time and then in bursts of ${x.burstSize} at once; each is timed from just before its INSERT (so its commit is inside the figure) until this process has parsed the \`changes\` event that carries it; one not there after 10 s is missed. Then one INSERT with a task for every open stream's user, one commit waking all of them. ${x.eventsAfterOpen} \`changes\` events arrived after the snapshot pages; ${x.registered} streams were registered in \`event_streams\` after the writes. Baseline, measured first: the same writes with a single stream open, and an INSERT until a bare \`pg\` client LISTENing on the trigger's channel hears it. A change is handed out once every older transaction has ended (sync's commit-safe order): other sessions on a shared server add to these figures.`, '');
    out.push(table(['writes', 'n', 'p50', 'p95', 'p99', 'max'], [
      line(`${x.open} streams: one at a time`, x.single),
      line(`${x.open} streams: bursts of ${x.burstSize}`, x.burst),
      line(`${x.open} streams: all`, x.all),
      line(`${x.open} streams: one commit for all`, x.fanout),
      line('1 stream: one at a time', x.baseline.single),
      line(`1 stream: bursts of ${x.burstSize}`, x.baseline.burst),
      line('LISTEN/NOTIFY alone', x.baseline.notify),
    ]), '');
  }
  if (r.largeDb) {
    const l = r.largeDb;
    const rowsLine = Object.entries(l.load.rows).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ');
    out.push('## Large database', '');
    out.push(
      `${l.usersTotal.toLocaleString('en-US')} users × ${l.tasksPerUser} tasks with 30 days of history, in a database of its own: ${rowsLine}; ${l.load.sizeMb} MB. Loaded in ${l.load.seconds.total} s: accounts of the ${l.load.users} measured users through the domain ${l.load.seconds.accounts} s, COPY ${l.load.seconds.copy} s, search documents and sync changes derived ${l.load.seconds.derived} s, indexes rebuilt ${l.load.seconds.indexes} s, VACUUM (ANALYZE) ${l.load.seconds.vacuumAnalyze} s, CHECKPOINT ${l.load.seconds.checkpoint ?? '?'} s before measuring (\`bench/lib/large-db.ts\`: secondary indexes dropped before and rebuilt after, triggers and foreign-key checks off while loading, the triggers' rows derived set-based).`,
      '',
      `GET /tasks from ${l.rounds[0]?.large.users ?? 0} users at ${l.ratePerUser} req/s each against an API process on the large database, and the same number of the small database's users (25 tasks each) at the same pace against the main API, in alternating rounds:`,
      '',
    );
    out.push(table(['round', 'small p50 / p95 / p99', 'large p50 / p95 / p99', 'achieved req/s small / large', 'errors small / large'], l.rounds.map((x, i) => [i + 1, `${ms(x.small.latency.p50)} / ${ms(x.small.latency.p95)} / ${ms(x.small.latency.p99)}`, `${ms(x.large.latency.p50)} / ${ms(x.large.latency.p95)} / ${ms(x.large.latency.p99)}`, `${x.small.achievedRps} / ${x.large.achievedRps}`, `${x.small.errors} / ${x.large.errors}`])), '');
    out.push('EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of each hot query on the large database, for one user with the full history (the JSON plans are in `latest.json`):', '');
    out.push(table(['query', 'index used', 'Seq Scan on a large table', 'planning / execution', 'ok?'], l.explain.map((e) => [e.name, e.indexes.join('; ') || '—', e.seqScans.join(', ') || 'none', `${e.planningMs.toFixed(2)} / ${e.executionMs.toFixed(2)} ms`, mark(e.ok)])), '');
    for (const e of l.explain) out.push(`<details><summary>${e.name}</summary>`, '', '```sql', e.sql, '```', '', '```', e.outline, '```', '', '</details>', '');
  }
  if (r.explain?.length) {
    out.push('## EXPLAIN ANALYZE of GET /tasks after the mixed workload', '');
    for (const e of r.explain) out.push('```', e, '```', '');
  }
  if (r.profile) out.push('## Profile', '', r.profile, '');
  if (fixes.trim()) out.push(fixes.trim(), '');
  return out.join('\n');
}

export function writeReport(dir: string, r: BenchResults, fixes: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify({ ...r, figures: figures(r) }, null, 2));
  fs.writeFileSync(path.join(dir, 'latest.md'), markdown(r, fixes));
  fs.writeFileSync(path.join(dir, 'latest.svg'), renderChart(chartInput(r)));
}
