import { randomUUID } from 'node:crypto';
import { CompiledQuery, Kysely, PostgresAdapter, PostgresDriver, PostgresIntrospector, PostgresQueryCompiler, type DatabaseConnection, type QueryResult } from 'kysely';
import pg from 'pg';
import { inject, test as base } from 'vitest';
// db/index.ts also sets the type parsers every pool of the service uses (int8 as number).
import type { Database } from '../../db/index.js';
import '../../db/index.js';
import type { UserRow } from '../../db/schema/index.js';
import { domainSubscribers } from '../../src/domain/events/subscribers.js';
import type { Actor } from '../../src/domain/actor.js';
import { domainEvents } from '../../src/domain/events/bus.js';
import { signInDevUser } from '../../src/domain/users/sign-in.js';

// Fast tests (tests/domain/**): business rules called on the domain directly, with no HTTP server
// and no database of their own. Every test gets a `db` whose writes all happen inside one
// PostgreSQL transaction on one connection, rolled back when the test ends, on the migrated
// database global-setup clones once for the whole run (`domainDatabase`).
//
// `db` is a plain Kysely<DB> (isTransaction is false), so domain code behaves as in production:
// its own `db.transaction()` becomes a SAVEPOINT (released on commit, rolled back to on a
// throw), and a statement run outside any transaction that fails (a CHECK constraint a test
// provokes) is rolled back to its own savepoint instead of aborting the test's transaction.
// Limits: one connection, so nothing concurrent (races, lock order and isolation levels stay in
// the HTTP suites, which run on a real pool); a transaction's isolation level is the outer one's.

/** Runs each statement outside a (savepoint-)transaction in a savepoint of its own. */
class RollbackConnection implements DatabaseConnection {
  depth = 0;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  constructor(private readonly inner: DatabaseConnection) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.depth > 0) return this.inner.executeQuery<R>(query);
    // One at a time: statements a caller runs concurrently (Promise.all) would interleave their
    // savepoints on the one connection.
    const run = this.queue.then(() => this.inSavepoint<R>(query));
    this.queue = run.catch(() => {});
    return run;
  }

  private async inSavepoint<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const name = `stmt_${++this.seq}`;
    await this.control(`savepoint ${name}`);
    try {
      const result = await this.inner.executeQuery<R>(query);
      await this.control(`release savepoint ${name}`);
      return result;
    } catch (err) {
      await this.control(`rollback to savepoint ${name}`);
      throw err;
    }
  }

  /** A transaction-control statement, sent as is. */
  async control(text: string): Promise<void> {
    await this.inner.executeQuery(CompiledQuery.raw(text));
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

/** Kysely's PostgreSQL driver on one borrowed client, whose transactions are savepoints. */
class SavepointDriver extends PostgresDriver {
  private connection?: RollbackConnection;

  override async acquireConnection(): Promise<DatabaseConnection> {
    this.connection ??= new RollbackConnection(await super.acquireConnection());
    return this.connection;
  }
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as RollbackConnection;
    await c.control(`savepoint trx_${c.depth + 1}`);
    c.depth++;
  }
  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as RollbackConnection;
    await c.control(`release savepoint trx_${c.depth}`);
    c.depth--;
  }
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as RollbackConnection;
    await c.control(`rollback to savepoint trx_${c.depth}`);
    await c.control(`release savepoint trx_${c.depth}`);
    c.depth--;
  }
  override async releaseConnection(): Promise<void> {
    // The one client stays borrowed until the test ends (rollbackTest releases it).
  }
  override async destroy(): Promise<void> {}
}

/** A Kysely whose every statement runs on `client`, inside the transaction the caller opened on it. */
function kyselyOn(client: pg.PoolClient): Database {
  const borrowed = { query: client.query.bind(client), release() {} };
  const pool = { connect: async () => borrowed, end: async () => {} } as unknown as pg.Pool;
  return new Kysely({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new SavepointDriver({ pool }),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
}

const withDatabase = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

let shared: pg.Pool | undefined;
/**
 * One small pool per worker process on the shared fast-test database (test files share their
 * worker's modules: vitest.config.ts, isolate false). Idle clients do not keep the process alive.
 */
function pool(): pg.Pool {
  if (!shared) {
    shared = new pg.Pool({ connectionString: withDatabase(inject('pgAdminUrl'), inject('domainDatabase')), max: 2, allowExitOnIdle: true, application_name: 'perpetua-domain-tests' });
    shared.on('error', () => {});
  }
  return shared;
}

let wired = false;
/** The composition root's wiring (src/app.ts, jobs/runner.ts): completions count toward streaks and achievements. */
function wireEvents() {
  if (wired) return;
  domainEvents.wire(domainSubscribers);
  wired = true;
}

/** Runs `fn` with a database whose writes are all rolled back afterwards, whatever `fn` does. */
export async function withRollback<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  wireEvents();
  const client = await pool().connect();
  let broken = false;
  try {
    await client.query('begin');
    const db = kyselyOn(client);
    try {
      return await fn(db);
    } finally {
      await db.destroy();
    }
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    try {
      await client.query('rollback');
    } catch {
      broken = true;
    }
    // A client left mid-query (a test that timed out) is closed rather than reused.
    client.release(broken ? true : undefined);
  }
}

/**
 * `test` with a `db` fixture: the migrated database inside a transaction rolled back after the test.
 *   domainTest('refuses the 51st task', async ({ db }) => { … });
 */
export const domainTest = base.extend<{ db: Database }>({
  // eslint-disable-next-line no-empty-pattern
  db: async ({}, use) => {
    await withRollback((db) => use(db));
  },
});

/** A signed-up user, as the development sign-in creates one (kickstart credits, achievement state). */
export async function newUser(db: Database, opts: { tier?: 'free' | 'pro'; kickstartCredits?: number; email?: string } = {}): Promise<UserRow & { actor: Actor }> {
  const email = opts.email ?? `user-${randomUUID().slice(0, 8)}@example.com`;
  let user = await signInDevUser(db, { email }, { requestId: randomUUID(), kickstartCredits: opts.kickstartCredits ?? 5 });
  if (opts.tier === 'pro') user = await db.updateTable('users').set({ tier: 'pro' }).where('id', '=', user.id).returningAll().executeTakeFirstOrThrow();
  return { ...user, actor: { userId: user.id, source: 'user', requestId: randomUUID() } };
}
