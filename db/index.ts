import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, type LogEvent, type Transaction } from 'kysely';
import pg from 'pg';
import type { DB } from './schema/index.js';
import { parseTimestamptz } from './timestamptz.js';

export type Database = Kysely<DB>;
/** The database or a transaction on it: domain functions accept either. */
export type Executor = Kysely<DB> | Transaction<DB>;

// timestamptz arrives as Date (pg's default), the same Date, read faster (parseTimestamptz); int8
// (count(*)) as a JS number, safe for our sizes.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, parseTimestamptz);
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface DatabaseHandle {
  db: Database;
  pool: pg.Pool;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  max?: number;
  applicationName?: string;
  /**
   * A query with no answer within this time fails and its connection is closed, so the pool replaces
   * it. Without it, a connection whose network path died silently holds its query, and its pool slot,
   * until TCP gives up (many minutes): a pool full of them answers nothing after the database is back.
   */
  queryTimeoutMs?: number;
  /** Sees every statement Kysely runs (tests/db/sql-snapshots.test.ts records them). */
  onQuery?: (event: LogEvent) => void;
}

/** SQL text → statement name, for the statements registered with `prepareStatement`. */
const namedStatements = new Map<string, string>();

/**
 * Runs this exact SQL text as a named prepared statement from now on: PostgreSQL parses and plans it
 * once per connection instead of on every call. Only for fixed text that names its columns (never
 * `*`): a column added by a migration would otherwise change a prepared statement's result type
 * under a running process, and every later call of it would fail.
 */
export function prepareStatement(text: string): void {
  if (!namedStatements.has(text)) namedStatements.set(text, `p_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
}

/** pg.Client that sends registered statements by name (pg prepares each once per connection). */
class NamedStatementClient extends pg.Client {
  override query(...args: unknown[]): any {
    const name = typeof args[0] === 'string' ? namedStatements.get(args[0]) : undefined;
    if (name) {
      const values = Array.isArray(args[1]) ? args[1] : undefined;
      args = [{ name, text: args[0], values }, ...args.slice(values ? 2 : 1)];
    }
    return (super.query as (...a: unknown[]) => unknown).apply(this, args);
  }
}

export function createDatabase(connectionString: string, opts: DatabaseOptions = {}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString,
    Client: opts.queryTimeoutMs ? clientWithDeadline(opts.queryTimeoutMs) : NamedStatementClient,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'perpetua-flow',
    // fail fast when the server is gone instead of queueing requests forever
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // A client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), ...(opts.onQuery ? { log: opts.onQuery } : {}) });
  return { db, pool, close: () => db.destroy() };
}

/**
 * pg.Client whose queries fail after `ms` without an answer, ending the connection: pg's own
 * `query_timeout` fails the query but leaves it active on the connection, which then blocks every
 * later query; an ended client is dropped by the pool when it is released.
 */
function clientWithDeadline(ms: number): typeof pg.Client {
  return class DeadlineClient extends NamedStatementClient {
    override query(...args: unknown[]): any {
      const run = (a: unknown[]) => (super.query as (...x: unknown[]) => unknown).apply(this, a);
      if (typeof (args[0] as { submit?: unknown } | undefined)?.submit === 'function') return run(args); // cursors, streams
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const guard = (fail: (err: Error) => void) => {
        timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          // end() destroys the socket of a connection with a query in flight; _ending makes the pool drop it.
          void this.end().catch(() => {});
          fail(new Error(`The database did not answer within ${ms} ms; the connection was closed`));
        }, ms);
      };
      const last = args.length - 1;
      const callback = typeof args[last] === 'function' ? (args[last] as (err: unknown, res?: unknown) => void) : undefined;
      if (callback) {
        guard((err) => callback(err));
        return run([
          ...args.slice(0, last),
          (err: unknown, res: unknown) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            callback(err, res);
          },
        ]);
      }
      return new Promise((resolve, reject) => {
        guard(reject);
        (run(args) as Promise<unknown>).then(
          (value) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(value);
          },
          (err: unknown) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            reject(err);
          },
        );
      });
    }
  } as typeof pg.Client;
}
