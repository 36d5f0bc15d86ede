import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../core/logging.js';

/** One kind of thing checked on every authenticated request: an account, a session. */
export interface LiveKeys {
  /** Whether the key (an id) is still live: from memory when remembered, else from the database. */
  isLive(key: string): Promise<boolean>;
  /** Forgets the key at once: this process ended it (the others hear of it from the database). */
  forget(key: string): void;
  /**
   * Calls `onEnd` when this process hears that the key ended (its notification, or forget()).
   * While the listening connection is down nothing is heard: check isLive() then. Returns the unwatch.
   */
  watch(key: string, onEnd: () => void): () => void;
}

/** Hears every notification on a channel, and whether the shared connection is listening. */
export interface ChannelSubscriber {
  heard(payload: string): void;
  /**
   * `true` once the connection hears its channels (again, after a loss: notifications sent while
   * it was down were missed), `false` when it is lost.
   */
  listening(on: boolean): void;
}

interface Kind {
  lookup: (key: string) => Promise<boolean>;
  seen: Map<string, number>;
  watchers: Map<string, Set<() => void>>;
  /** Bumped on every forget: a lookup that started before one may hold an answer from before it. */
  generation: number;
}

/**
 * Whether a token's account, or its session, is still live, asked on every authenticated request.
 * Keys seen to be live are remembered for `ttlMs`, and forgotten the moment any process ends one:
 * a trigger notifies the kind's channel with the key at commit, and each process listens on one
 * connection of its own for every kind. While that connection is down nothing is remembered, so
 * every check asks the database; a lookup that overlapped a forget is not remembered either. A
 * connection that dies silently is found by a ping every 10 s; until then, remembered keys expire
 * after `ttlMs` at the latest. Remembering starts only once the connection has received a
 * notification it sent itself: through a transaction pooler (PgBouncer), where LISTEN silently
 * hears nothing, every check keeps asking the database.
 *
 * The same connection carries other channels for whoever subscribes (the live updates of GET
 * /events: `sync_changed`, `event_stream_replaced`), and a key's end can be watched (a stream ends
 * with its session or account): one listening connection per process, whatever listens.
 */
export class LiveKeyCache {
  private readonly kinds = new Map<string, Kind>();
  private readonly subscribers = new Map<string, ChannelSubscriber[]>();
  private listening = false;
  private listener: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: { ttlMs?: number; maxEntries?: number; log?: Logger } = {}) {}

  /** A kind of key, ended by a notification on `channel` whose payload is the key. Define kinds before listen(). */
  define(channel: string, lookup: (key: string) => Promise<boolean>): LiveKeys {
    if (this.kinds.has(channel)) throw new Error(`live keys on channel ${channel} are already defined`);
    const kind: Kind = { lookup, seen: new Map(), watchers: new Map(), generation: 0 };
    this.kinds.set(channel, kind);
    return {
      isLive: (key) => this.isLive(kind, key),
      forget: (key) => this.forget(kind, key),
      watch: (key, onEnd) => {
        let set = kind.watchers.get(key);
        if (!set) kind.watchers.set(key, (set = new Set()));
        const fn = () => onEnd();
        set.add(fn);
        return () => {
          set.delete(fn);
          if (set.size === 0 && kind.watchers.get(key) === set) kind.watchers.delete(key);
        };
      },
    };
  }

  /**
   * Another use of the same connection: `subscriber` hears every notification on `channel` (whose
   * payload is up to the sender). Subscribe before listen(). One connection per process serves
   * every kind and every subscriber.
   */
  subscribe(channel: string, subscriber: ChannelSubscriber): void {
    if (this.kinds.has(channel)) throw new Error(`channel ${channel} carries live keys`);
    const list = this.subscribers.get(channel) ?? [];
    list.push(subscriber);
    this.subscribers.set(channel, list);
  }

  private async isLive(kind: Kind, key: string): Promise<boolean> {
    const until = kind.seen.get(key);
    if (until !== undefined && until > Date.now()) return true;
    const generation = kind.generation;
    const live = await kind.lookup(key);
    if (live && this.listening && generation === kind.generation) this.remember(kind, key);
    else kind.seen.delete(key);
    return live;
  }

  private forget(kind: Kind, key: string): void {
    kind.generation++;
    kind.seen.delete(key);
    const watchers = kind.watchers.get(key);
    if (watchers) for (const fn of [...watchers]) fn();
  }

  /** Starts listening with a connection made from `pool`'s settings; reconnects until close(). */
  listen(pool: pg.Pool): void {
    const channels = [...this.kinds.keys(), ...this.subscribers.keys()];
    if (this.closed || this.listener || channels.length === 0) return;
    const Client = (pool as unknown as { Client: typeof pg.Client }).Client ?? pg.Client;
    const client = new Client({ ...(pool as unknown as { options: pg.ClientConfig }).options, application_name: 'perpetua-flow-live-keys', keepAlive: true });
    this.listener = client;
    const lost = (err?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      clearInterval(this.ping);
      this.stopRemembering();
      this.tellSubscribers(false);
      client.removeAllListeners('notification');
      void client.end().catch(() => {});
      if (this.closed) return;
      if (err) this.opts.log?.warn({ err: err.message }, 'live-key listener lost; checking every request against the database until it is back');
      this.retry = setTimeout(() => this.listen(pool), 1_000);
      this.retry.unref();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    // Sent after every LISTEN: hearing it means each channel is heard.
    const probe = `probe:${randomUUID()}`;
    client.on('notification', (msg) => {
      if (!msg.payload || this.listener !== client) return;
      if (msg.payload !== probe) {
        const kind = this.kinds.get(msg.channel);
        if (kind) return this.forget(kind, msg.payload);
        for (const sub of this.subscribers.get(msg.channel) ?? []) sub.heard(msg.payload);
        return;
      }
      this.listening = true;
      this.tellSubscribers(true);
      this.ping = setInterval(() => void client.query('select 1').catch((err: Error) => lost(err)), 10_000);
      this.ping.unref();
    });
    client
      .connect()
      .then(async () => {
        for (const channel of channels) await client.query(`listen ${client.escapeIdentifier(channel)}`);
        await client.query('select pg_notify($1, $2)', [channels[0], probe]);
      })
      .catch((err: Error) => lost(err));
  }

  /** Whether notifications are heard now (the connection is up and heard its own probe). */
  get isListening(): boolean {
    return this.listening;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.ping);
    this.stopRemembering();
    this.tellSubscribers(false);
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => {});
  }

  private tellSubscribers(on: boolean): void {
    for (const list of this.subscribers.values()) for (const sub of list) sub.listening(on);
  }

  private stopRemembering(): void {
    this.listening = false;
    for (const kind of this.kinds.values()) {
      kind.generation++;
      kind.seen.clear();
    }
  }

  private remember(kind: Kind, key: string): void {
    const max = this.opts.maxEntries ?? 100_000;
    // Oldest first out: a Map iterates in insertion order.
    if (kind.seen.size >= max) kind.seen.delete(kind.seen.keys().next().value!);
    kind.seen.set(key, Date.now() + (this.opts.ttlMs ?? 30_000));
  }
}
