import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { TokenIssuer } from '../../src/domain/auth/sessions.js';
import { createUsers, type BenchDatabase, type BenchUser } from './setup.js';
import { rng } from './words.js';

// The large database of issue 18: `users` × `tasksPerUser` tasks (10 000 × 100 = 1 M in the recorded
// run) with subtasks, reminders and 30 days of activity, written with COPY, the way a restore or a
// migration of real data arrives. The users that requests are measured with are signed up through
// the domain (accounts, sessions, tokens); the rest are bare `users` rows. Every user's data is
// generated alike.
//
// A bulk load as PostgreSQL's documentation advises: the tables' secondary indexes are dropped first
// and rebuilt after, and the loading sessions run with session_replication_role = replica, which
// skips triggers and foreign-key checks (the data is generated consistent). The rows the service's
// triggers would have written (search_documents, sync_changes) are then derived set-based from the
// loaded rows, as migration 0011 filled search_documents. Then VACUUM (ANALYZE): the statistics
// and the visibility map a table in service has from autovacuum. Then a CHECKPOINT: the load's
// gigabytes are written out and fsynced before anything is measured, as they would be long before
// a loaded database serves traffic (the first round right after the load was the slow one, p99
// 32 ms against 16 ms in the round after; the checkpoint as the cause is likely, not shown:
// bench/fixes.md row 32).

/** The tables the phase fills and checks plans against: a Seq Scan on any of them is a finding. */
export const LARGE_TABLES = ['task_instances', 'subtasks', 'reminders', 'activity_logs', 'search_documents', 'sync_changes'] as const;

export interface LargeDbOptions {
  users: number;
  tasksPerUser: number;
  /** How many of the users get a session and a token (the ones requests are sent as). */
  measured: number;
  /** Days of history: tasks created and activity over this many days before now. */
  days: number;
  /** Progress lines. */
  log?: (s: string) => void;
}

export interface LargeDbLoad {
  users: BenchUser[];
  rows: Record<string, number>;
  /** Seconds spent in each step. */
  seconds: { accounts: number; copy: number; derived: number; indexes: number; vacuumAnalyze: number; checkpoint: number; total: number };
  sizeMb: number;
}

const TITLES = ['Prepare the quarterly report', 'Call the dentist', 'Book the venue', 'Review the pull request', 'Water the plants', 'Renew the passport', 'Write the newsletter', 'Plan the sprint', 'Pay the electricity bill', 'Read chapter 4', 'Buy groceries for the week', 'Fix the garden fence'];
const DESCRIPTIONS = ['Collect what is needed first, then block an hour in the calendar for it.', 'Ask Sam about the figures before sending anything out.', 'Check the budget and the invoice from last month.', ''];
const SUBTASKS = ['Find the number', 'Draft the summary', 'Send it for review', 'Clear the inbox'];
const PRIORITIES = ['low', 'medium', 'high'];
const ACTIONS = ['task_created', 'task_updated', 'task_completed'];

const ts = (ms: number) => new Date(ms).toISOString();

/** Writes `lines` (COPY text format, each ending in \n) into `table` through COPY FROM STDIN. */
export async function copyInto(client: pg.PoolClient, { table, columns }: { table: string; columns: string[] }, lines: Iterable<string>): Promise<number> {
  const stream = client.query(copyFrom(`copy ${table} (${columns.join(', ')}) from stdin`));
  let buf = '';
  let n = 0;
  for (const line of lines) {
    buf += line;
    n++;
    if (buf.length >= 1 << 20) {
      if (!stream.write(buf)) await once(stream, 'drain');
      buf = '';
    }
  }
  stream.end(buf);
  await finished(stream);
  return n;
}

interface Generated {
  taskIds: string[][];
}

/** Loads the large database into `bench` (migrated and empty); returns its measured users. */
export async function loadLargeDatabase(bench: BenchDatabase, issuer: TokenIssuer, o: LargeDbOptions): Promise<LargeDbLoad> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const lap = (() => {
    let last = Date.now();
    return () => {
      const s = (Date.now() - last) / 1000;
      last = Date.now();
      return Math.round(s * 10) / 10;
    };
  })();
  const measured = await createUsers(bench.db, issuer, o.measured, 'large');
  const accounts = lap();
  const client = await bench.pool.connect();
  const rows: Record<string, number> = {};
  let copy: number, derived: number, indexes: number;
  try {
    await client.query(`set session_replication_role = replica`);
    await client.query(`set maintenance_work_mem = '256MB'`);
    const { rows: dropped } = await client.query<{ name: string; def: string }>(
      `select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def
         from pg_index i join pg_class c on c.oid = i.indrelid
        where c.relname = any($1) and c.relnamespace = 'public'::regnamespace
          and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)`,
      [LARGE_TABLES],
    );
    for (const d of dropped) await client.query(`drop index ${d.name}`);

    const otherIds = Array.from({ length: o.users - measured.length }, () => randomUUID());
    rows.users = measured.length + (await copyInto(client, { table: 'users', columns: ['id', 'google_id', 'email', 'name'] }, (function* () {
      for (let i = 0; i < otherIds.length; i++) yield `${otherIds[i]}\tbench-large-${i}\tlarge-other-${i}@bench.example\tBench user ${i}\n`;
    })()));
    const userIds = [...measured.map((u) => u.id), ...otherIds];
    const rand = rng(20261207);
    const now = Date.now();
    const span = o.days * 86_400_000;
    const gen: Generated = { taskIds: userIds.map(() => []) };
    // Per task: what its subtasks and reminders need to know.
    const facts: { created: number; completedAt: number | null }[][] = userIds.map(() => []);

    rows.task_instances = await copyInto(client, { table: 'task_instances', columns: ['id', 'user_id', 'title', 'description', 'priority', 'due_date', 'estimated_duration', 'completed', 'completed_at', 'completed_by', 'hidden', 'version', 'created_at', 'updated_at'] },
      (function* () {
        for (let u = 0; u < userIds.length; u++) {
          for (let k = 0; k < o.tasksPerUser; k++) {
            const id = randomUUID();
            const created = now - span + Math.floor(((k + rand()) / o.tasksPerUser) * span);
            const completedAt = created < now - 86_400_000 && rand() < 0.4 ? created + Math.floor(rand() * 86_400_000) : null;
            const due = rand() < 0.5 ? ts(created + Math.floor((1 + rand() * 9) * 86_400_000)) : '\\N';
            gen.taskIds[u]!.push(id);
            facts[u]!.push({ created, completedAt });
            const updated = completedAt ?? created;
            yield `${id}\t${userIds[u]}\t${TITLES[k % TITLES.length]} #${k + 1}\t${DESCRIPTIONS[k % DESCRIPTIONS.length]}\t${PRIORITIES[k % 3]}\t${due}\t${k % 3 === 0 ? 30 : '\\N'}\t${completedAt ? 't' : 'f'}\t${completedAt ? ts(completedAt) : '\\N'}\t${completedAt ? 'manual' : '\\N'}\t${k % 50 === 49 ? 't' : 'f'}\t${completedAt ? 2 : 1}\t${ts(created)}\t${ts(updated)}\n`;
          }
        }
      })(),
    );
    log(`   task_instances: ${rows.task_instances} rows`);

    rows.subtasks = await copyInto(client, { table: 'subtasks', columns: ['id', 'task_id', 'title', 'completed', 'completed_at', 'order_index', 'created_at', 'updated_at'] }, (function* () {
      for (let u = 0; u < userIds.length; u++) {
        const tasks = gen.taskIds[u]!;
        for (let k = 0; k < tasks.length; k += 3) {
          const f = facts[u]![k]!;
          for (let j = 0; j < 2; j++) {
            const done = f.completedAt !== null || j === 0;
            const at = f.completedAt ?? f.created + 60_000;
            yield `${randomUUID()}\t${tasks[k]}\t${SUBTASKS[(k + j) % SUBTASKS.length]}\t${done ? 't' : 'f'}\t${done ? ts(at) : '\\N'}\t${j}\t${ts(f.created)}\t${ts(done ? at : f.created)}\n`;
          }
        }
      }
    })());
    log(`   subtasks: ${rows.subtasks} rows`);

    // Reminders: every 5th task has one; those of every 10th fall due in the coming week (not fired),
    // the others fired a day after their task was created.
    rows.reminders = await copyInto(client, { table: 'reminders', columns: ['id', 'user_id', 'task_id', 'type', 'method', 'scheduled_at', 'fired', 'fired_at', 'created_at', 'updated_at'] }, (function* () {
      for (let u = 0; u < userIds.length; u++) {
        const tasks = gen.taskIds[u]!;
        for (let k = 0; k < tasks.length; k += 5) {
          const f = facts[u]![k]!;
          const upcoming = k % 10 === 0;
          const at = upcoming ? now + Math.floor((1 + rand() * 6) * 86_400_000) : Math.min(f.created + 86_400_000, now - 3_600_000);
          yield `${randomUUID()}\t${userIds[u]}\t${tasks[k]}\tabsolute\tin_app\t${ts(at)}\t${upcoming ? 'f' : 't'}\t${upcoming ? '\\N' : ts(at + 1000)}\t${ts(f.created)}\t${ts(upcoming ? f.created : at + 1000)}\n`;
        }
      }
    })());
    log(`   reminders: ${rows.reminders} rows`);

    // Activity: three entries a day per user over the history, on that user's tasks.
    rows.activity_logs = await copyInto(client, { table: 'activity_logs', columns: ['id', 'user_id', 'entity_type', 'entity_id', 'action', 'source', 'created_at', 'updated_at'] }, (function* () {
      for (let u = 0; u < userIds.length; u++) {
        const tasks = gen.taskIds[u]!;
        for (let d = 0; d < o.days * 3; d++) {
          const at = ts(now - span + Math.floor(((d + rand()) / (o.days * 3)) * span));
          yield `${randomUUID()}\t${userIds[u]}\ttask\t${tasks[d % tasks.length]}\t${ACTIONS[d % 3]}\tuser\t${at}\t${at}\n`;
        }
      }
    })());
    log(`   activity_logs: ${rows.activity_logs} rows`);
    copy = lap();

    // What the triggers would have written: the search documents (as migration 0011 derives them)
    // and one change per entity for sync, in the order the entities were created; three statements
    // on three connections at once (the server's cores, not one backend, are the limit).
    const derive = async (statement: string) => {
      const c = await bench.pool.connect();
      try {
        await c.query(`set session_replication_role = replica`);
        await c.query(statement);
      } finally {
        c.release();
      }
    };
    await Promise.all([
      derive(`insert into search_documents (id, user_id, kind, task_id, title, body, document)
        select id, user_id, 'task', null, title, description, search_document(title, description) from task_instances`),
      derive(`insert into search_documents (id, user_id, kind, task_id, title, body, document)
        select s.id, t.user_id, 'subtask', s.task_id, s.title, '', search_document(s.title, '') from subtasks s join task_instances t on t.id = s.task_id`),
      derive(`insert into sync_changes (user_id, entity_type, entity_id, deleted, changed_at)
        select user_id, kind, id, false, at from (
          select user_id, 'task' as kind, id, updated_at as at from task_instances
          union all select t.user_id, 'subtask', s.id, s.updated_at from subtasks s join task_instances t on t.id = s.task_id
          union all select user_id, 'reminder', id, updated_at from reminders) c
        order by at`),
    ]);
    for (const t of ['search_documents', 'sync_changes']) rows[t] = Number((await client.query(`select count(*)::int as n from ${t}`)).rows[0].n);
    derived = lap();
    log(`   derived search_documents (${rows.search_documents}) and sync_changes (${rows.sync_changes}) in ${derived} s`);

    await client.query(`set max_parallel_maintenance_workers = 2`);
    for (const d of dropped) await client.query(d.def);
    indexes = lap();
    log(`   rebuilt ${dropped.length} indexes in ${indexes} s`);
  } finally {
    client.release();
  }
  await bench.pool.query(`vacuum (analyze) ${['users', ...LARGE_TABLES].join(', ')}`);
  const vacuumAnalyze = lap();
  await bench.pool.query('checkpoint');
  const checkpoint = lap();
  const sizeMb = Math.round(Number((await bench.pool.query(`select pg_database_size(current_database()) as b`)).rows[0].b) / 2 ** 20);
  return { users: measured, rows, seconds: { accounts, copy, derived, indexes, vacuumAnalyze, checkpoint, total: Math.round((Date.now() - t0) / 100) / 10 }, sizeMb };
}
