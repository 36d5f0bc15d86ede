import { randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import pg from 'pg';
import { createDatabase, type Database } from '../../db/index.js';
import { migrateToLatest } from '../../db/migrate.js';
import { signAccessToken } from '../../src/domain/auth/access-tokens.js';
import { startSession, type TokenIssuer } from '../../src/domain/auth/sessions.js';
import { signInDevUser } from '../../src/domain/users/sign-in.js';
import { grantCredits } from '../../src/domain/credits/ledger.js';

// Data the benchmark needs, written through the domain's own functions (accounts, sessions,
// credits) or in bulk where only the rows matter (the 25 tasks each user lists).

export interface BenchDatabase {
  url: string;
  name: string;
  db: Database;
  pool: pg.Pool;
  drop(): Promise<void>;
}

const withDatabase = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

/** A fresh database on the server of `adminUrl`, migrated; drop() removes it. */
export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `perpetua_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const { db, pool } = createDatabase(url, { max: 12, applicationName: 'bench-setup' });
  await migrateToLatest(db, pool);
  return {
    url,
    name,
    db,
    pool,
    async drop() {
      await db.destroy().catch(() => {});
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

export interface BenchUser {
  id: string;
  email: string;
  /** A long-lived access token of the user's session (signed with the API's key). */
  token: string;
}

/**
 * Signs users up as the development sign-in does (kickstart credits, achievement state, activity),
 * opens a session for each and signs an access token for it that outlives the whole run (the
 * service's 15-minute tokens would expire mid-benchmark; the API checks signature, issuer,
 * audience and expiry, never the lifetime).
 */
export async function createUsers(db: Database, issuer: TokenIssuer, count: number, prefix: string, opts: { kickstartCredits?: number } = {}): Promise<BenchUser[]> {
  return mapLimit(Array.from({ length: count }, (_, i) => i), 8, async (i) => {
    const email = `${prefix}-${i}@bench.example`;
    const user = await signInDevUser(db, { email }, { requestId: randomUUID(), kickstartCredits: opts.kickstartCredits ?? 5 });
    // Nothing in this process remembers sessions; the service's processes hear of ended ones from the database.
    const session = await startSession(db, { issuer, user, liveSessions: { isLive: async () => true, forget: () => {} } });
    const sid = (jwt.decode(session.access_token) as { sid: string }).sid;
    const token = signAccessToken(issuer.keys, { ...issuer.access, expiresInSeconds: 6 * 3600 }, { sub: user.id, email: user.email, tier: user.tier, sid });
    return { id: user.id, email: user.email, token };
  });
}

const TITLES = ['Prepare the quarterly report', 'Call the dentist', 'Book the venue', 'Review the pull request', 'Water the plants', 'Renew the passport', 'Write the newsletter', 'Plan the sprint', 'Pay the electricity bill', 'Read chapter 4'];
const PRIORITIES = ['low', 'medium', 'high'] as const;

/**
 * 25 tasks per user, the newest first as GET /tasks lists them: 5 completed, 13 with a due date,
 * about a third with two subtasks (one done), so the page, its subtask counts and the total all do
 * real work.
 */
export async function seedTasks(db: Database, users: BenchUser[], perUser = 25): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < users.length; start += 100) {
    const chunk = users.slice(start, start + 100);
    const rows = chunk.flatMap((u) =>
      Array.from({ length: perUser }, (_, k) => {
        const completed = k % 5 === 4;
        return {
          user_id: u.id,
          title: `${TITLES[k % TITLES.length]} #${k + 1}`,
          description: k % 2 === 0 ? 'Collect what is needed first, then block an hour in the calendar for it.' : '',
          priority: PRIORITIES[k % 3]!,
          due_date: k % 2 === 0 ? new Date(now + (k + 1) * 3_600_000) : null,
          estimated_duration: k % 3 === 0 ? 30 : null,
          completed,
          completed_at: completed ? new Date(now - k * 60_000) : null,
          completed_by: completed ? ('manual' as const) : null,
          created_at: new Date(now - (perUser - k) * 60_000 - 3_600_000),
          updated_at: new Date(now - (perUser - k) * 60_000 - 3_600_000),
        };
      }),
    );
    const inserted = await db.insertInto('task_instances').values(rows).returning(['id', 'title']).execute();
    const withSubtasks = inserted.filter((_, i) => i % 3 === 0);
    if (withSubtasks.length) {
      await db
        .insertInto('subtasks')
        .values(
          withSubtasks.flatMap((t) => [
            { task_id: t.id, title: 'First step', order_index: 0, completed: true, completed_at: new Date(now) },
            { task_id: t.id, title: 'Second step', order_index: 1, completed: false, completed_at: null },
          ]),
        )
        .execute();
    }
  }
}

/** A user with exactly `credits` purchased credits and nothing else. */
export async function userWithCredits(db: Database, issuer: TokenIssuer, credits: number): Promise<BenchUser> {
  const [user] = await createUsers(db, issuer, 1, 'credits', { kickstartCredits: 0 });
  await db.transaction().execute((trx) =>
    grantCredits(trx, { userId: user!.id, kind: 'purchased', amount: credits, expiresAt: null, description: 'Benchmark credits', operationRef: 'bench:credits' }),
  );
  return user!;
}

/** Two open seeded tasks of each user, in the order of `users`: the mixed cycle's first tasks a and b. */
export async function openTaskPairs(db: Database, users: BenchUser[]): Promise<{ a: { id: string; version: number }; b: { id: string; version: number } }[]> {
  const rows = await db
    .selectFrom('task_instances')
    .select(['user_id', 'id', 'version'])
    .where('completed', '=', false)
    .where('user_id', 'in', users.map((u) => u.id))
    .orderBy('user_id')
    .orderBy('created_at')
    .execute();
  const byUser = new Map<string, { id: string; version: number }[]>();
  for (const r of rows) {
    const list = byUser.get(r.user_id) ?? [];
    if (list.length < 2) list.push({ id: r.id, version: r.version });
    byUser.set(r.user_id, list);
  }
  return users.map((u) => {
    const [a, b] = byUser.get(u.id) ?? [];
    if (!a || !b) throw new Error(`user ${u.id} has fewer than two open tasks`);
    return { a, b };
  });
}
