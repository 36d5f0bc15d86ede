import { randomUUID } from 'node:crypto';
import type { Database } from '../../../db/index.js';
import type { Logger } from '../../core/logging.js';
import type { ChannelSubscriber, LiveKeyCache, LiveKeys } from '../live-keys.js';
import { checkCursor, readChanges, type SyncChanges } from '../sync/sync-changes.js';
import { unauthorized } from '../../core/errors.js';
import { spendEventTicket, TICKET_SPENT } from './tickets.js';
import { registerStream, renewStreams, STREAM_LEASE_SECONDS, STREAM_REPLACED_CHANNEL, unregisterStream } from './streams.js';

/** Notified by a trigger on sync_changes (db/migrations/0022) with the user id, at commit. */
export const SYNC_CHANGED_CHANNEL = 'sync_changed';

/** Why the server ends a stream (the `end` event); a client must not reconnect after one. */
export type EndReason = 'replaced' | 'session_ended' | 'account_deleted';

/** Where a follower's pages go: the transport (server-sent events). */
export interface StreamSink {
  /** Sends one page; resolves when the client can take more (backpressure). */
  page(changes: SyncChanges): Promise<void>;
  /** Tells the client why the stream ends, and closes it. */
  end(reason: EndReason): void;
  /** Closes the stream without an `end` (an unexpected failure): the client reconnects. */
  abort(): void;
}

export interface LiveUpdatesDeps {
  db: Database;
  /** The process's one listening connection (live-keys.ts), shared with the token checks. */
  keys: LiveKeyCache;
  liveSessions: LiveKeys;
  liveAccounts: LiveKeys;
  log: Logger;
}

/** Changes in one page a stream reads: the most GET /sync's `limit` allows. */
const PAGE = 100;
/** While the listening connection is down, streams read this often instead of waiting to be told. */
const POLL_MS = 1_000;
/** Changes committed but held back by an older transaction: read again after this, doubling, up to the cap. */
const RETRY_MIN_MS = 20;
const RETRY_MAX_MS = 250;

const hasEntries = (c: SyncChanges) =>
  c.tasks.length + c.subtasks.length + c.reminders.length + c.notes.length + c.notifications.length + c.deletions.length > 0;

/**
 * The live updates of one API process (GET /events). Every stream follows its user's changes with
 * the same commit-safe query as GET /sync, woken by the notification a trigger sends at every
 * commit that records changes — heard on the process's one listening connection (live-keys.ts),
 * never a connection per stream. The notification names only the user; each of that user's
 * streams then reads what comes after its own cursor. While the connection is down, streams read
 * every second instead, and once it is back each reads at once (notifications sent meanwhile were
 * missed). Streams are counted per user in the database (streams.ts), across processes.
 */
export class LiveUpdates {
  private readonly byUser = new Map<string, Set<Follower>>();
  private readonly byId = new Map<string, Follower>();
  private listening = false;
  private poll: NodeJS.Timeout | undefined;
  private renew: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly deps: LiveUpdatesDeps) {
    const changed: ChannelSubscriber = {
      heard: (userId) => this.wakeUser(userId),
      listening: (on) => {
        const was = this.listening;
        this.listening = on;
        if (on && !was) for (const f of this.byId.values()) f.resumed();
      },
    };
    deps.keys.subscribe(SYNC_CHANGED_CHANNEL, changed);
    deps.keys.subscribe(STREAM_REPLACED_CHANNEL, { heard: (id) => this.byId.get(id)?.end('replaced'), listening: () => {} });
  }

  /** Open streams in this process. */
  get size(): number {
    return this.byId.size;
  }

  /**
   * Checks where the stream starts (a 400 naming `cursorField` for a cursor that is not the
   * user's) and registers it, ending the user's oldest stream beyond the limit. Nothing is sent
   * until `start`.
   */
  async open(opts: { userId: string; sessionId: string; cursor: string | undefined; cursorField: string; ticket?: string }): Promise<Follower> {
    if (opts.cursor !== undefined) checkCursor(opts.userId, opts.cursor, opts.cursorField);
    // Spent only by a request that opens a stream: a 400 or 429 before this leaves it usable.
    if (opts.ticket !== undefined && !(await spendEventTicket(this.deps.db, opts.ticket))) throw unauthorized(TICKET_SPENT);
    const id = randomUUID();
    const ended = await registerStream(this.deps.db, { id, userId: opts.userId });
    for (const old of ended) this.byId.get(old)?.end('replaced');
    return new Follower(this, this.deps, { id, userId: opts.userId, sessionId: opts.sessionId, cursor: opts.cursor });
  }

  /** Ends every stream (without `end`: clients reconnect elsewhere) and stops the timers. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    clearInterval(this.renew);
    await Promise.all([...this.byId.values()].map((f) => f.abort()));
  }

  /** @internal */
  add(f: Follower): void {
    if (this.closed) throw new Error('live updates are closed');
    this.byId.set(f.id, f);
    let set = this.byUser.get(f.userId);
    if (!set) this.byUser.set(f.userId, (set = new Set()));
    set.add(f);
    this.poll ??= setInterval(() => this.tick(), POLL_MS);
    this.poll.unref();
    this.renew ??= setInterval(() => void this.renewLeases(), (STREAM_LEASE_SECONDS * 1000) / 3);
    this.renew.unref();
  }

  /** @internal */
  remove(f: Follower): void {
    this.byId.delete(f.id);
    const set = this.byUser.get(f.userId);
    set?.delete(f);
    if (set?.size === 0) this.byUser.delete(f.userId);
    if (this.byId.size === 0) {
      clearInterval(this.poll);
      clearInterval(this.renew);
      this.poll = this.renew = undefined;
    }
  }

  private wakeUser(userId: string): void {
    for (const f of this.byUser.get(userId) ?? []) f.wake();
  }

  /** Without the listening connection: read every second, and check sessions and accounts (their ends go unheard too). */
  private tick(): void {
    if (this.listening) return;
    for (const f of this.byId.values()) {
      f.wake();
      f.checkLive();
    }
  }

  /** Renews this process's leases; a stream whose row is gone was replaced while its notification went unheard. */
  private async renewLeases(): Promise<void> {
    const ids = [...this.byId.keys()];
    try {
      const kept = await renewStreams(this.deps.db, ids);
      for (const id of ids) if (!kept.has(id)) this.byId.get(id)?.end('replaced');
    } catch (err) {
      this.deps.log.warn({ err }, 'could not renew the leases of the open event streams');
    }
  }
}

/** One open stream: reads its user's changes after its cursor whenever woken, and hands them to its sink. */
export class Follower {
  readonly id: string;
  readonly userId: string;
  private readonly sessionId: string;
  private cursor: string | undefined;
  private sink: StreamSink | undefined;
  private dirty = false;
  private running = false;
  private done = false;
  private retryMs = 0;
  private retry: NodeJS.Timeout | undefined;
  private unwatch: Array<() => void> = [];

  constructor(
    private readonly hub: LiveUpdates,
    private readonly deps: LiveUpdatesDeps,
    opts: { id: string; userId: string; sessionId: string; cursor: string | undefined },
  ) {
    this.id = opts.id;
    this.userId = opts.userId;
    this.sessionId = opts.sessionId;
    this.cursor = opts.cursor;
  }

  /** Starts following: from now on every notification for the user wakes it; the first read is at once. */
  start(sink: StreamSink): void {
    if (this.done) return sink.abort();
    this.sink = sink;
    this.hub.add(this);
    // A session's end may not reach this process by its account: the account's end is checked first.
    this.unwatch.push(this.deps.liveAccounts.watch(this.userId, () => this.end('account_deleted')));
    this.unwatch.push(this.deps.liveSessions.watch(this.sessionId, () => void this.sessionEnded()));
    this.wake();
    // It may have ended between the ticket or token check and here.
    this.checkLive();
  }

  wake(): void {
    if (this.done) return;
    this.dirty = true;
    if (!this.running) void this.run();
  }

  /** The listening connection is back: what was told meanwhile went unheard. */
  resumed(): void {
    this.wake();
    this.checkLive();
  }

  checkLive(): void {
    if (this.done) return;
    void (async () => {
      try {
        if (!(await this.deps.liveAccounts.isLive(this.userId))) this.end('account_deleted');
        else if (!(await this.deps.liveSessions.isLive(this.sessionId))) this.end('session_ended');
      } catch (err) {
        this.deps.log.warn({ err }, 'could not check the session of an event stream');
      }
    })();
  }

  private async sessionEnded(): Promise<void> {
    // An account deletion ends its sessions in the same commit; say which it was.
    const account = await this.deps.liveAccounts.isLive(this.userId).catch(() => true);
    this.end(account ? 'session_ended' : 'account_deleted');
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.dirty && !this.done) {
        this.dirty = false;
        const { changes, pending } = await readChanges(this.deps.db, { userId: this.userId, cursor: this.cursor, limit: PAGE });
        if (this.done) return;
        if (hasEntries(changes) || changes.cursor !== this.cursor) {
          this.cursor = changes.cursor;
          await this.sink!.page(changes);
        }
        if (changes.has_more) this.dirty = true;
        else if (pending) this.retryLater();
        else this.retryMs = 0;
      }
    } catch (err) {
      if (this.done) return;
      this.deps.log.error({ err, stream: this.id }, 'event stream failed; the client reconnects');
      this.abort();
    } finally {
      this.running = false;
    }
  }

  private retryLater(): void {
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs ? this.retryMs * 2 : RETRY_MIN_MS);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.wake(), this.retryMs);
    this.retry.unref();
  }

  /** The server ends the stream: the client is told why. */
  end(reason: EndReason): void {
    if (this.stop()) this.sink?.end(reason);
  }

  /** The stream stops without an `end` (a failure, or the server shutting down). */
  async abort(): Promise<void> {
    if (this.stop()) this.sink?.abort();
  }

  /** The client went away. */
  disconnected(): void {
    this.stop();
  }

  private stop(): boolean {
    if (this.done) return false;
    this.done = true;
    clearTimeout(this.retry);
    for (const fn of this.unwatch) fn();
    this.unwatch = [];
    this.hub.remove(this);
    unregisterStream(this.deps.db, this.id).catch((err: unknown) => this.deps.log.warn({ err }, 'could not unregister an event stream; its lease expires'));
    return true;
  }
}
