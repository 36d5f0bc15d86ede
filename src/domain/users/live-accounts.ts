import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Executor } from '../../../db/index.js';
import type { Logger } from '../../http/logging.js';
import { accountExists } from './queries.js';

export const ACCOUNT_DELETED_CHANNEL = 'account_deleted';

/**
 * Whether a token's account still exists, asked on every authenticated request. Accounts seen to
 * exist are remembered for `ttlMs`, and forgotten the moment any process deletes one: a trigger on
 * users notifies `account_deleted` at commit, and each process listens on a connection of its own.
 * While that connection is down nothing is remembered, so every check asks the database; a lookup
 * that overlapped a deletion is not remembered either. A connection that dies silently is found by
 * a ping every 10 s; until then, remembered accounts expire after `ttlMs` at the latest. Remembering
 * starts only once the connection has received a notification it sent itself: through a transaction
 * pooler (PgBouncer), where LISTEN silently hears nothing, every check keeps asking the database.
 */
export class LiveAccounts {
  private readonly seen = new Map<string, number>();
  private listening = false;
  /** Bumped on every forget: a lookup that started before one may hold an answer from before it. */
  private generation = 0;
  private listener: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly db: Executor,
    private readonly opts: { ttlMs?: number; maxEntries?: number; log?: Logger } = {},
  ) {}

  async exists(userId: string): Promise<boolean> {
    const until = this.seen.get(userId);
    if (until !== undefined && until > Date.now()) return true;
    const generation = this.generation;
    const exists = await accountExists(this.db, userId);
    if (exists && this.listening && generation === this.generation) this.remember(userId);
    else this.seen.delete(userId);
    return exists;
  }

  /** Starts listening with a connection made from `pool`'s settings; reconnects until close(). */
  listen(pool: pg.Pool): void {
    if (this.closed || this.listener) return;
    const Client = (pool as unknown as { Client: typeof pg.Client }).Client ?? pg.Client;
    const client = new Client({ ...(pool as unknown as { options: pg.ClientConfig }).options, application_name: 'perpetua-flow-accounts', keepAlive: true });
    this.listener = client;
    const lost = (err?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      clearInterval(this.ping);
      this.stopRemembering();
      client.removeAllListeners('notification');
      void client.end().catch(() => {});
      if (this.closed) return;
      if (err) this.opts.log?.warn({ err: err.message }, 'account listener lost; checking every request against the database until it is back');
      this.retry = setTimeout(() => this.listen(pool), 1_000);
      this.retry.unref();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    const probe = `probe:${randomUUID()}`;
    client.on('notification', (msg) => {
      if (msg.channel !== ACCOUNT_DELETED_CHANNEL || !msg.payload || this.listener !== client) return;
      if (msg.payload !== probe) return this.forget(msg.payload);
      this.listening = true;
      this.ping = setInterval(() => void client.query('select 1').catch((err: Error) => lost(err)), 10_000);
      this.ping.unref();
    });
    client
      .connect()
      .then(() => client.query(`listen ${ACCOUNT_DELETED_CHANNEL}`))
      .then(() => client.query('select pg_notify($1, $2)', [ACCOUNT_DELETED_CHANNEL, probe]))
      .catch((err: Error) => lost(err));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.ping);
    this.stopRemembering();
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => {});
  }

  forget(userId: string): void {
    this.generation++;
    this.seen.delete(userId);
  }

  private stopRemembering(): void {
    this.listening = false;
    this.generation++;
    this.seen.clear();
  }

  private remember(userId: string): void {
    const max = this.opts.maxEntries ?? 100_000;
    // Oldest first out: a Map iterates in insertion order.
    if (this.seen.size >= max) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(userId, Date.now() + (this.opts.ttlMs ?? 30_000));
  }
}
