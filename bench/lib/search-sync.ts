import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { TokenIssuer } from '../../src/domain/auth/sessions.js';
import { copyInto } from './large-db.js';
import { createUsers, type BenchDatabase, type BenchUser } from './setup.js';
import { summarize, type LatencySummary } from './stats.js';
import { makeVocabulary } from './words.js';

// Two phases of issue 18 that need one user with a lot of data:
//   search: GET /search for a user with 100 000 items beside the same searches for a user with
//           10 000 (tasks, subtasks, notes in the proportions of bench/search.ts), target p95 ≤ 15 ms;
//   sync:   a client whose cursor is 10 000 changes behind pages GET /sync to the end, target ≤ 1 s.
// The rows are written with COPY with the service's triggers on, so the search documents and sync
// changes are the ones the service itself writes.

export interface SearchRun {
  items: number;
  latency: LatencySummary;
  byKind: Record<string, { latency: LatencySummary; meanTotal: number }>;
}
export interface SearchPhaseResult {
  small: SearchRun;
  large: SearchRun;
  searches: number;
  /** CPU seconds used while the searches ran (warm-ups included), by process, and their wall time. */
  cpu?: { wallSeconds: number; api: number; worker: number; machine: number };
}

/** CPU seconds used so far: the API's, the worker's and the whole machine's busy time. */
export type CpuSnapshot = () => { api: number; worker: number; machine: number };
export interface SyncCatchUpResult {
  changes: number;
  pages: number;
  limit: number;
  totalMs: number;
  objects: number;
  page: LatencySummary;
}

/** Tasks (half, most with a description), subtasks (three tenths) and notes (a fifth) of one user. */
async function seedItems(bench: BenchDatabase, userId: string, o: { items: number; seed: number }): Promise<void> {
  const { items, seed } = o;
  const v = makeVocabulary(seed);
  const tasks = Math.round(items * 0.5);
  const subtasks = Math.round(items * 0.3);
  const notes = items - tasks - subtasks;
  const taskIds = Array.from({ length: tasks }, () => randomUUID());
  const client = await bench.pool.connect();
  try {
    await copyInto(client, { table: 'task_instances', columns: ['id', 'user_id', 'title', 'description'] }, (function* () {
      for (const id of taskIds) yield `${id}\t${userId}\t${v.cap(v.phrase(2 + Math.floor(v.rand() * 4)))}\t${v.rand() < 0.7 ? `${v.cap(v.phrase(4 + Math.floor(v.rand() * 12)))}.` : ''}\n`;
    })());
    const order = new Map<string, number>();
    await copyInto(client, { table: 'subtasks', columns: ['task_id', 'title', 'order_index'] }, (function* () {
      for (let i = 0; i < subtasks; i++) {
        const taskId = taskIds[Math.floor(v.rand() * taskIds.length)]!;
        const k = order.get(taskId) ?? 0;
        order.set(taskId, k + 1);
        yield `${taskId}\t${v.cap(v.phrase(2 + Math.floor(v.rand() * 4)))}\t${k}\n`;
      }
    })());
    await copyInto(client, { table: 'notes', columns: ['user_id', 'content'] }, (function* () {
      for (let i = 0; i < notes; i++) yield `${userId}\t${v.cap(v.phrase(3))}\\n${v.cap(v.phrase(10 + Math.floor(v.rand() * 25)))}.\n`;
    })());
  } finally {
    client.release();
  }
}

async function timeSearches(base: string, user: BenchUser, o: { items: number; searches: number; warmup: number; seed: number }): Promise<SearchRun> {
  const { items, searches, warmup, seed } = o;
  const v = makeVocabulary(seed);
  const search = async (q: string) => {
    const t0 = performance.now();
    const res = await fetch(`${base}/api/v1/search?q=${encodeURIComponent(q)}`, { headers: { authorization: `Bearer ${user.token}` } });
    const body = (await res.json()) as { pagination?: { total: number } };
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`search ${JSON.stringify(q)} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
    return { ms, total: body.pagination!.total };
  };
  for (const { q } of v.queries(warmup)) await search(q);
  const timed: { kind: string; ms: number; total: number }[] = [];
  for (const { q, kind } of v.queries(searches)) timed.push({ kind, ...(await search(q)) });
  const byKind: SearchRun['byKind'] = {};
  for (const kind of new Set(timed.map((r) => r.kind))) {
    const rows = timed.filter((r) => r.kind === kind);
    byKind[kind] = { latency: summarize(rows.map((r) => r.ms)), meanTotal: Math.round(rows.reduce((s, r) => s + r.total, 0) / rows.length) };
  }
  return { items, latency: summarize(timed.map((r) => r.ms)), byKind };
}

/**
 * Two users on the benchmark database, one with `small` items and one with `large`; the same
 * queries for each (the same seeded stream), one at a time over HTTP, the smaller user first.
 */
export async function searchPhase(o: { bench: BenchDatabase; issuer: TokenIssuer; base: string; small: number; large: number; searches: number; cpu: CpuSnapshot; log: (s: string) => void }): Promise<SearchPhaseResult> {
  const [a, b] = await createUsers(o.bench.db, o.issuer, 2, 'search');
  const t0 = Date.now();
  await seedItems(o.bench, a!.id, { items: o.small, seed: 1 });
  await seedItems(o.bench, b!.id, { items: o.large, seed: 2 });
  await o.bench.pool.query('analyze task_instances, subtasks, notes, search_documents, sync_changes');
  o.log(`   ${o.small} and ${o.large} items written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const cpu0 = o.cpu();
  const t1 = performance.now();
  const small = await timeSearches(o.base, a!, { items: o.small, searches: o.searches, warmup: 30, seed: 20261127 });
  const large = await timeSearches(o.base, b!, { items: o.large, searches: o.searches, warmup: 30, seed: 20261127 });
  const cpu1 = o.cpu();
  const round = (x: number) => Math.round(x * 100) / 100;
  const cpu = { wallSeconds: round((performance.now() - t1) / 1000), api: round(cpu1.api - cpu0.api), worker: round(cpu1.worker - cpu0.worker), machine: round(cpu1.machine - cpu0.machine) };
  o.log(`   CPU while searching (${cpu.wallSeconds} s): API ${cpu.api} s, worker ${cpu.worker} s, machine ${cpu.machine} s`);
  return { small, large, searches: o.searches, cpu };
}

/**
 * A client in step (its cursor at the end of its user's changes) falls `changes` behind: half new
 * tasks, then an edit of each (one UPDATE). It then pages GET /sync with the largest limit until
 * has_more is false; the time of all pages together is the figure.
 */
export async function syncCatchUpPhase(o: { bench: BenchDatabase; issuer: TokenIssuer; base: string; changes: number; log: (s: string) => void }): Promise<SyncCatchUpResult> {
  const limit = 1000;
  const [user] = await createUsers(o.bench.db, o.issuer, 1, 'sync');
  const get = async (cursor?: string) => {
    const url = `${o.base}/api/v1/sync?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${user!.token}` } });
    const body = (await res.json()) as any;
    if (res.status !== 200) throw new Error(`GET /sync answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
    return body.data as { cursor: string; has_more: boolean; tasks: unknown[]; subtasks: unknown[]; reminders: unknown[]; notes: unknown[]; notifications: unknown[]; deletions: unknown[] };
  };
  let page = await get();
  while (page.has_more) page = await get(page.cursor);
  const start = page.cursor;

  const half = Math.floor(o.changes / 2);
  const client = await o.bench.pool.connect();
  try {
    await copyInto(client, { table: 'task_instances', columns: ['user_id', 'title'] }, (function* () {
      for (let i = 0; i < half; i++) yield `${user!.id}\tTask to sync ${i}\n`;
    })());
    await client.query(`update task_instances set title = title || ' (edited)', version = version + 1, updated_at = now() where user_id = $1`, [user!.id]);
  } finally {
    client.release();
  }
  // A change is handed out once every transaction older than it has ended (on a shared server, other
  // databases' too): wait until all of them are, so the clock measures paging, not that wait.
  const waitUntil = Date.now() + 60_000;
  for (;;) {
    const { rows } = await o.bench.pool.query<{ n: number }>(`select count(*)::int as n from sync_changes where user_id = $1 and xid < pg_snapshot_xmin(pg_current_snapshot())`, [user!.id]);
    if (rows[0]!.n >= 2 * half) break;
    if (Date.now() > waitUntil) throw new Error(`only ${rows[0]!.n} of ${2 * half} changes became visible within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const pageMs: number[] = [];
  let objects = 0;
  const t0 = performance.now();
  let cursor = start;
  for (;;) {
    const p0 = performance.now();
    const p = await get(cursor);
    pageMs.push(performance.now() - p0);
    objects += p.tasks.length + p.subtasks.length + p.reminders.length + p.notes.length + p.notifications.length + p.deletions.length;
    cursor = p.cursor;
    if (!p.has_more) break;
  }
  const totalMs = Math.round((performance.now() - t0) * 10) / 10;
  o.log(`   ${2 * half} changes behind: ${pageMs.length} pages, ${objects} objects, ${totalMs} ms`);
  return { changes: 2 * half, pages: pageMs.length, limit, totalMs, objects, page: summarize(pageMs) };
}
