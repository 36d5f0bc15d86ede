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
const registered = new Map<string, string>();

/**
 * At most this many texts a pool names on repeat: each is parsed and planned once per connection
 * and kept by PostgreSQL for the connection's life, so texts that vary with their input (an `in`
 * list of any length) must not fill the server's memory.
 */
export const AUTO_NAMED_LIMIT = 400;

const statementName = (text: string) => `p_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;

/**
 * Runs this exact SQL text as a named prepared statement from its first call: PostgreSQL parses and
 * plans it once per connection instead of on every call. Only for fixed text that names its columns
 * (never `*`): a column added by a migration would otherwise change a prepared statement's result
 * type under a running process, and every later call of it would fail.
 */
export function prepareStatement(text: string): void {
  if (!registered.has(text)) registered.set(text, statementName(text));
}

/**
 * Which statements one pool sends by name. Besides the registered ones, a parameterized text seen a
 * second time is named (PostgreSQL then skips parsing it and, after five calls, planning it, on each
 * connection), unless it reads `*`, by `prepareStatement`'s rule. Statements without parameters go
 * in one simple-protocol message (begin, commit), unnamed unless registered.
 */
class StatementNames {
  private readonly named = new Map<string, string>();
  /** Texts seen once; cleared when full, so texts that never repeat cannot grow it without bound. */
  private readonly seenOnce = new Set<string>();

  nameFor(text: string, parameterized: boolean): string | undefined {
    const known = registered.get(text) ?? this.named.get(text);
    if (known !== undefined || !parameterized || this.named.size >= AUTO_NAMED_LIMIT) return known;
    if (text.replaceAll('count(*)', '').includes('*')) return undefined;
    if (!this.seenOnce.delete(text)) {
      if (this.seenOnce.size >= 10 * AUTO_NAMED_LIMIT) this.seenOnce.clear();
      this.seenOnce.add(text);
      return undefined;
    }
    const name = statementName(text);
    this.named.set(text, name);
    return name;
  }
}

/** pg.Client that sends the statements `names` gives a name to by that name (pg prepares each once per connection). */
function namedStatementClient(names: StatementNames): typeof pg.Client {
  return class NamedStatementClient extends pg.Client {
    override query(...args: unknown[]): any {
      const text = typeof args[0] === 'string' ? args[0] : undefined;
      const values = Array.isArray(args[1]) ? args[1] : undefined;
      const name = text === undefined ? undefined : names.nameFor(text, (values?.length ?? 0) > 0);
      if (name) args = [{ name, text, values }, ...args.slice(values ? 2 : 1)];
      return (super.query as (...a: unknown[]) => unknown).apply(this, args);
    }
  } as typeof pg.Client;
}

export function createDatabase(connectionString: string, opts: DatabaseOptions = {}): DatabaseHandle {
  const names = new StatementNames();
  const pool = new pg.Pool({
    connectionString,
    Client: opts.queryTimeoutMs ? clientWithDeadline(opts.queryTimeoutMs, names) : namedStatementClient(names),
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
function clientWithDeadline(ms: number, names: StatementNames): typeof pg.Client {
  return class DeadlineClient extends namedStatementClient(names) {
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
