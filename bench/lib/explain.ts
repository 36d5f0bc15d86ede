import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import type pg from 'pg';
import type { DB } from '../../db/schema/index.js';
import { fireDueReminders } from '../../src/domain/reminders/fire-reminder.js';
import { searchItems } from '../../src/domain/search/search-items.js';
import { encodeCursor } from '../../src/domain/sync/cursor.js';
import { syncChanges } from '../../src/domain/sync/sync-changes.js';
import { listTasks } from '../../src/domain/tasks/list-tasks.js';
import { LARGE_TABLES } from './large-db.js';

// EXPLAIN of the hot queries on the large database: the statements the service's own functions
// run (captured from Kysely's log while they run for one user), each explained with ANALYZE inside
// a transaction that is rolled back, as JSON. A plan passes when it reads through an index and
// scans none of the large tables sequentially.

export interface ExplainedQuery {
  name: string;
  sql: string;
  /** EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON): the plan as PostgreSQL gave it. */
  plan: unknown;
  planningMs: number;
  executionMs: number;
  /** `Index Scan using x on t` etc., every index access in the plan. */
  indexes: string[];
  /** Large tables read by a Seq Scan. */
  seqScans: string[];
  ok: boolean;
  /** The plan as an indented outline (node, relation, index, actual rows and time). */
  outline: string;
}

type PlanNode = Record<string, any> & { Plans?: PlanNode[] };

function nodes(n: PlanNode, depth = 0, out: { n: PlanNode; depth: number }[] = []) {
  out.push({ n, depth });
  for (const c of n.Plans ?? []) nodes(c, depth + 1, out);
  return out;
}

async function capture(pool: pg.Pool, run: (db: Kysely<DB>) => Promise<unknown>): Promise<CompiledQuery[]> {
  const captured: CompiledQuery[] = [];
  // Never destroyed: destroying it would end the shared pool.
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), log: (e) => void (e.level === 'query' && captured.push(e.query)) });
  await run(db);
  const tables = new RegExp(`\\b(${LARGE_TABLES.join('|')})\\b`);
  return captured.filter((q) => tables.test(q.sql));
}

export async function explain(pool: pg.Pool, name: string, q: CompiledQuery): Promise<ExplainedQuery> {
  const client = await pool.connect();
  let json: any;
  try {
    await client.query('begin');
    json = (await client.query(`explain (analyze, buffers, format json) ${q.sql}`, q.parameters as unknown[])).rows[0]['QUERY PLAN'];
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
  const top = (Array.isArray(json) ? json[0] : json) as { Plan: PlanNode; 'Planning Time': number; 'Execution Time': number };
  const all = nodes(top.Plan);
  const indexes = all.filter(({ n }) => /Index/.test(n['Node Type'])).map(({ n }) => `${n['Node Type']} using ${n['Index Name']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`);
  const seqScans = all.filter(({ n }) => n['Node Type'] === 'Seq Scan' && (LARGE_TABLES as readonly string[]).includes(n['Relation Name'])).map(({ n }) => n['Relation Name'] as string);
  const outline = all
    .map(({ n, depth }) => `${'  '.repeat(depth)}${n['Node Type']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''} (actual rows ${n['Actual Rows']}, loops ${n['Actual Loops']}, ${n['Actual Total Time']} ms; buffers hit ${n['Shared Hit Blocks'] ?? 0}, read ${n['Shared Read Blocks'] ?? 0})`)
    .join('\n');
  return { name, sql: q.sql, plan: json, planningMs: top['Planning Time'], executionMs: top['Execution Time'], indexes, seqScans, ok: indexes.length > 0 && seqScans.length === 0, outline };
}

/**
 * The hot queries of one user with a full history: GET /tasks (page and count), GET /sync (a
 * snapshot in two pages, then a delta page from the start of the user's changes), GET /search
 * (a word and a prefix), and the reminder job's claim of due reminders.
 */
export async function explainHotQueries(pool: pg.Pool, userId: string): Promise<ExplainedQuery[]> {
  const groups: [string, CompiledQuery[]][] = [];
  groups.push(['GET /tasks', await capture(pool, (db) => listTasks(db, { userId, filter: {}, page: { offset: 0, limit: 25 } }))]);
  let cursor: string | undefined;
  groups.push(['GET /sync, snapshot page 1', await capture(pool, async (db) => (cursor = (await syncChanges(db, { userId, cursorText: undefined, limit: 100 })).cursor))]);
  groups.push(['GET /sync, snapshot page 2', await capture(pool, (db) => syncChanges(db, { userId, cursorText: cursor, limit: 100 }))]);
  groups.push(['GET /sync, delta page', await capture(pool, (db) => syncChanges(db, { userId, cursorText: encodeCursor(userId, { phase: 'delta', xid: 1n, seq: 0n }), limit: 100 }))]);
  groups.push(['GET /search "report"', await capture(pool, (db) => searchItems(db, { userId, q: 'report', page: { offset: 0, limit: 25 } }))]);
  groups.push(['GET /search "pla" (prefix)', await capture(pool, (db) => searchItems(db, { userId, q: 'pla', page: { offset: 0, limit: 25 } }))]);
  // None is due (the loaded ones fire next week), so the claim changes nothing when captured.
  groups.push(['reminders due (reminder_fire job)', await capture(pool, (db) => fireDueReminders(db, 100))]);
  const out: ExplainedQuery[] = [];
  for (const [label, queries] of groups) {
    for (const [i, q] of queries.entries()) out.push(await explain(pool, queries.length > 1 ? `${label} (${i + 1} of ${queries.length})` : label, q));
  }
  return out;
}
