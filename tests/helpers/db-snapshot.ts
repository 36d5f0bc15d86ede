import { sql } from 'kysely';
import type { TestApp } from './app.js';

/**
 * Tables a rejected request may legitimately touch: the idempotency record of its key, the rate
 * limiter's counters, the worker's heartbeat, and the open GET /events streams (a stream that was
 * answered 200 unregisters itself when its client leaves, while later requests run).
 */
const BOOKKEEPING = new Set(['idempotency_keys', 'rate_limits', 'worker_heartbeats', 'event_streams']);

export type DatabaseSnapshot = Record<string, string[]>;

/**
 * Every row of every table of the test's database (its own clone), plus the queued jobs, as sorted
 * JSON lines — compare two snapshots to prove that a request changed nothing.
 */
export async function snapshotDatabase(t: TestApp): Promise<DatabaseSnapshot> {
  const tables = await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = 'public' order by tablename`.execute(t.db);
  const snapshot: DatabaseSnapshot = {};
  for (const { tablename } of tables.rows) {
    if (BOOKKEEPING.has(tablename)) continue;
    const rows = await sql<{ row: unknown }>`select to_jsonb(x) as row from ${sql.table(tablename)} x`.execute(t.db);
    snapshot[tablename] = rows.rows.map((r) => JSON.stringify(r.row)).sort();
  }
  // The public view has no payload; a job added, removed or rescheduled still shows.
  const jobs = await sql<{ row: unknown }>`select jsonb_build_object('id', id, 'task', task_identifier, 'run_at', run_at, 'key', key, 'revision', revision, 'attempts', attempts) as row from graphile_worker.jobs`.execute(t.db);
  snapshot['graphile_worker.jobs'] = jobs.rows.map((r) => JSON.stringify(r.row)).sort();
  return snapshot;
}

/** The tables whose rows differ, with the rows only in one of the snapshots (for a readable failure). */
export function diffSnapshots(before: DatabaseSnapshot, after: DatabaseSnapshot): Record<string, { gone: string[]; added: string[] }> {
  const diff: Record<string, { gone: string[]; added: string[] }> = {};
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = new Set(before[table] ?? []);
    const a = new Set(after[table] ?? []);
    const gone = [...b].filter((r) => !a.has(r));
    const added = [...a].filter((r) => !b.has(r));
    if (gone.length || added.length) diff[table] = { gone, added };
  }
  return diff;
}

/** Per table, its row count and the newest row version's transaction id: changes whenever anything is written to it. */
export type DatabaseDigest = Record<string, string>;

const digestQueries = new WeakMap<TestApp, string>();

/**
 * A fingerprint of every table of the test's database (bookkeeping excluded) that any write
 * changes, in one cheap round trip (~3 ms, against ~18 ms for hashing every row's content once a
 * suite has made a few thousand rows): per table `count(*)` and `max(xmin)`. Every row PostgreSQL
 * inserts or updates gets the writing transaction's id as its `xmin`, newer than every row already
 * there, and a delete lowers the count; so an insert, update or delete (even one that writes the
 * same values back) shows, and reads do not. Unlike `snapshotDatabase` it says which tables were
 * written, not how: take a snapshot when the rows are needed. Meant for one database used by one
 * test at a time, with no worker running.
 */
export async function databaseDigest(t: TestApp): Promise<DatabaseDigest> {
  let query = digestQueries.get(t);
  if (!query) {
    const tables = await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = 'public' order by tablename`.execute(t.db);
    const fingerprint = (table: string, name = table) => `select '${name}' as name, count(*) || ':' || coalesce(max(xmin::text::bigint), 0) as fingerprint from ${table}`;
    const parts = tables.rows.filter(({ tablename }) => !BOOKKEEPING.has(tablename)).map(({ tablename }) => fingerprint(`public."${tablename}"`, tablename));
    parts.push(fingerprint('graphile_worker._private_jobs', 'graphile_worker.jobs'));
    query = parts.join('\nunion all\n');
    digestQueries.set(t, query);
  }
  const rows = await sql.raw<{ name: string; fingerprint: string }>(query).execute(t.db);
  return Object.fromEntries(rows.rows.map((r) => [r.name, r.fingerprint]));
}

/** The tables written to between two digests. */
export function changedTables(before: DatabaseDigest, after: DatabaseDigest): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((name) => before[name] !== after[name]).sort();
}
