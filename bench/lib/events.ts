import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { sleep } from './proc.js';
import { mapLimit, type BenchDatabase, type BenchUser } from './setup.js';
import { summarize, type LatencySummary } from './stats.js';

// The `events` phase of `npm run bench` (issue 19 item 1: a change reaches every open stream within
// 1 s). One GET /events stream per user, split over the API processes given; tasks are inserted
// straight into the database and each is timed from just before its INSERT (so its commit is
// inside the figure) until the client here has parsed the `changes` event that carries it.
//   baseline: the same writes with a single stream open, and the bare LISTEN/NOTIFY round trip
//   measured: singles, bursts of 50 at once, and one commit touching every open stream's user

/** Issue 19 item 1. */
export const EVENTS_P95_MS = 1_000;
/** A write whose event has not arrived after this counts as missed. */
const MISSED_AFTER_MS = 10_000;

/** One open stream: resolves a waiter when the task it waits for arrives in a `changes` event. */
export class Stream {
  /** `changes` events parsed, the first (the snapshot page the open waits for) included. */
  events = 0;
  /** The server sent `end` or the response closed. */
  ended: string | null = null;
  private waiting = new Map<string, (at: number) => void>();
  private buffer = '';
  private req: http.ClientRequest | undefined;

  open(base: string, token: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.req = http.request(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, agent: false });
      this.req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`GET /events answered ${res.statusCode}`));
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.feed(chunk, resolve));
        res.on('close', () => (this.ended ??= 'closed'));
      });
      this.req.on('error', (err) => {
        this.ended ??= err.message;
        reject(err);
      });
      this.req.end();
    });
  }

  /** The server writes LF-separated events with one data line each. */
  private feed(chunk: string, first: () => void): void {
    const at = performance.now();
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      if (block.includes('event: end')) this.ended ??= 'end';
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (!data || !block.includes('event: changes')) continue;
      this.events++;
      first();
      for (const task of (JSON.parse(data.slice(6)) as { tasks: { id: string }[] }).tasks) {
        this.waiting.get(task.id)?.(at);
        this.waiting.delete(task.id);
      }
    }
  }

  arrival(taskId: string): Promise<number> {
    return new Promise((resolve) => this.waiting.set(taskId, resolve));
  }

  close(): void {
    this.req?.destroy();
  }
}

/** Milliseconds from before the write to its event; NaN when it did not arrive in time. */
async function timed(stream: Stream, write: () => Promise<unknown>, id: string): Promise<number> {
  const arrived = stream.arrival(id);
  const t0 = performance.now();
  await write();
  const at = await Promise.race([arrived, sleep(MISSED_AFTER_MS).then(() => NaN)]);
  return at - t0;
}

const insertTask = (bench: BenchDatabase, userId: string, id: string) => bench.db.insertInto('task_instances').values({ id, user_id: userId, title: 'Live' }).execute();

/** `writes` single writes one after another, then `bursts` of `burstSize` at once, to random streams of `targets`. */
async function timeWrites(bench: BenchDatabase, targets: { user: BenchUser; stream: Stream }[], o: { writes: number; bursts: number; burstSize: number }) {
  const pick = () => targets[Math.floor(Math.random() * targets.length)]!;
  const single: number[] = [];
  for (let k = 0; k < o.writes; k++) {
    const { user, stream } = pick();
    const id = randomUUID();
    single.push(await timed(stream, () => insertTask(bench, user.id, id), id));
  }
  const burst: number[] = [];
  for (let b = 0; b < o.bursts; b++) {
    const picked = Array.from({ length: o.burstSize }, pick);
    burst.push(...(await Promise.all(picked.map(({ user, stream }) => {
      const id = randomUUID();
      return timed(stream, () => insertTask(bench, user.id, id), id);
    }))));
    await sleep(200);
  }
  return { single, burst };
}

/** The database's part alone: an INSERT until a bare pg client LISTENing hears the trigger's NOTIFY. */
async function notifyRoundTrip(bench: BenchDatabase, user: BenchUser, count: number): Promise<number[]> {
  const client = new pg.Client({ connectionString: bench.url });
  await client.connect();
  try {
    let heard: (() => void) | null = null;
    client.on('notification', (n) => {
      if (n.channel === 'sync_changed' && n.payload === user.id) heard?.();
    });
    await client.query('listen sync_changed');
    const ms: number[] = [];
    for (let k = 0; k < count; k++) {
      const got = new Promise<number>((resolve) => (heard = () => resolve(performance.now())));
      const t0 = performance.now();
      await insertTask(bench, user.id, randomUUID());
      ms.push((await Promise.race([got, sleep(MISSED_AFTER_MS).then(() => NaN)])) - t0);
    }
    return ms;
  } finally {
    await client.end();
  }
}

export interface EventsPhaseResult {
  apis: number;
  /** Streams asked for, and those open (snapshot page received) before the writes. */
  streams: number;
  open: number;
  openSeconds: number;
  /** Still open after the writes (no `end`, connection up), and rows in event_streams then. */
  openAtEnd: number;
  registered: number;
  single: LatencySummary;
  burst: LatencySummary;
  burstSize: number;
  /** Singles and bursts together: the figure against EVENTS_P95_MS. */
  all: LatencySummary;
  /** One commit with a task for every open stream's user, each stream timed. */
  fanout: LatencySummary;
  /** Deliveries awaited, parsed in time, and not. */
  expected: number;
  received: number;
  missed: number;
  /** `changes` events parsed after the snapshot pages, over all streams. */
  eventsAfterOpen: number;
  baseline: { single: LatencySummary; burst: LatencySummary; all: LatencySummary; missed: number; notify: LatencySummary };
}

const arrived = (xs: number[]) => xs.filter((x) => !Number.isNaN(x));

/**
 * `users` each open one stream (split over `bases`); `lone`, a user of no other stream, carries the
 * baseline, measured first with nothing else open.
 */
export async function eventsPhase(o: { bench: BenchDatabase; users: BenchUser[]; lone: BenchUser; bases: string[]; writes: number; bursts: number; burstSize: number; log: (s: string) => void }): Promise<EventsPhaseResult> {
  const { bench, users: rest, lone, bases } = o;
  const streams: (Stream | undefined)[] = [];
  try {
    const one = new Stream();
    await one.open(bases[0]!, lone.token);
    const b = await timeWrites(bench, [{ user: lone, stream: one }], o);
    one.close();
    const notify = await notifyRoundTrip(bench, lone, o.writes);
    const bAll = [...b.single, ...b.burst];
    const baseline = { single: summarize(arrived(b.single)), burst: summarize(arrived(b.burst)), all: summarize(arrived(bAll)), missed: bAll.filter(Number.isNaN).length, notify: summarize(arrived(notify)) };
    o.log(`   baseline, 1 stream: p50 / p95 ${baseline.all.p50} / ${baseline.all.p95} ms, missed ${baseline.missed}; LISTEN/NOTIFY alone p50 / p95 ${baseline.notify.p50} / ${baseline.notify.p95} ms`);

    const opened = performance.now();
    const failures: string[] = [];
    await mapLimit(rest, 50, async (user, i) => {
      const s = new Stream();
      try {
        await s.open(bases[i % bases.length]!, user.token); // resolves at the first (snapshot) page
        streams[i] = s;
      } catch (err) {
        s.close();
        failures.push(err instanceof Error ? err.message : String(err));
      }
    });
    const openSeconds = Math.round((performance.now() - opened) / 100) / 10;
    const targets = rest.flatMap((user, i) => (streams[i] ? [{ user, stream: streams[i] }] : []));
    o.log(`   ${targets.length} of ${rest.length} streams open in ${openSeconds} s${failures.length ? `; failed: ${[...new Set(failures)].join(', ')}` : ''}`);
    if (targets.length === 0) throw new Error('no stream opened');
    await sleep(500);
    const snapshotEvents = targets.reduce((s, t) => s + t.stream.events, 0);

    const w = await timeWrites(bench, targets, o);
    // Every open stream's user gets a task in one commit: every stream has something to deliver at once.
    const ids = targets.map(() => randomUUID());
    const fan = await (async () => {
      const waits = targets.map((t, k) => t.stream.arrival(ids[k]!));
      const t0 = performance.now();
      await bench.db.insertInto('task_instances').values(targets.map((t, k) => ({ id: ids[k]!, user_id: t.user.id, title: 'Everyone' }))).execute();
      const timeout = sleep(MISSED_AFTER_MS).then(() => NaN);
      return Promise.all(waits.map(async (p) => (await Promise.race([p, timeout])) - t0));
    })();

    const all = [...w.single, ...w.burst];
    const expected = all.length + fan.length;
    const missed = all.filter(Number.isNaN).length + fan.filter(Number.isNaN).length;
    const registered = Number((await bench.pool.query<{ n: number }>('select count(*)::int as n from event_streams')).rows[0]!.n);
    const result: EventsPhaseResult = {
      apis: bases.length,
      streams: rest.length,
      open: targets.length,
      openSeconds,
      openAtEnd: targets.filter((t) => t.stream.ended === null).length,
      registered,
      single: summarize(arrived(w.single)),
      burst: summarize(arrived(w.burst)),
      burstSize: o.burstSize,
      all: summarize(arrived(all)),
      fanout: summarize(arrived(fan)),
      expected,
      received: expected - missed,
      missed,
      eventsAfterOpen: targets.reduce((s, t) => s + t.stream.events, 0) - snapshotEvents,
      baseline,
    };
    o.log(`   ${result.open} streams: p50 / p95 / p99 ${result.all.p50} / ${result.all.p95} / ${result.all.p99} ms (singles p95 ${result.single.p95}, bursts p95 ${result.burst.p95}); one commit to all ${result.open}: p95 ${result.fanout.p95} ms, max ${result.fanout.max} ms; received ${result.received} of ${expected}, missed ${missed}; open at the end ${result.openAtEnd}, registered ${registered}`);
    return result;
  } finally {
    for (const s of streams) s?.close();
  }
}
