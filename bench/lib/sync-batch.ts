import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { TokenIssuer } from '../../src/domain/auth/sessions.js';
import { createUsers, type BenchDatabase, type BenchUser } from './setup.js';
import { summarize, type LatencySummary } from './stats.js';

// The `syncbatch` phase of `npm run bench` (issue 19 asks for the figure, sets no target): POST /sync
// with 100 commands a client queued offline, timed from sending to the last byte of the answer.
// Baseline: the same 100 writes as 100 REST calls sent one after the other, as a client without
// the batch would replay them. Each batch and each replay has a fresh user (a free one: 20 tasks
// and 10 notes stay inside its limits), so both start from the same state; they alternate.

type OpType = 'task_add' | 'task_update' | 'task_complete' | 'subtask_add' | 'subtask_update' | 'note_add' | 'note_update' | 'reminder_add';
/** One queued write: `temp` names what it creates, `ref` an earlier op's `temp`. */
interface Op {
  type: OpType;
  temp?: string;
  ref?: string;
  args: Record<string, unknown>;
}

const TITLES = ['Plan the trip', 'Call the plumber', 'Write the report', 'Buy a present', 'Fix the bike', 'Book the flights', 'Tidy the garage', 'Prepare the talk', 'Renew the insurance', 'Answer the letters'];

/**
 * 100 writes of a day offline: 20 tasks (15 edited, 10 completed), a subtask on each (10 renamed),
 * 10 reminders, 10 notes (5 edited).
 */
export function offlineSession(): Op[] {
  const ops: Op[] = [];
  const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();
  for (let i = 0; i < 20; i++) {
    const t = `t${i}`;
    const s = `s${i}`;
    const title = `${TITLES[i % TITLES.length]} ${i + 1}`;
    // Reminders `before` need a due date: the first ten have one, the others every other.
    const due = i < 10 || i % 2 === 1 ? { due_date: inDays(1 + (i % 7)) } : {};
    ops.push({ type: 'task_add', temp: t, args: { title, priority: (['low', 'medium', 'high'] as const)[i % 3], ...due } });
    if (i < 15) ops.push({ type: 'task_update', ref: t, args: { title: `${title} (edited)`, version: 1 } });
    ops.push({ type: 'subtask_add', temp: s, ref: t, args: { title: 'First step' } });
    if (i < 10) ops.push({ type: 'subtask_update', ref: s, args: { title: 'First step, renamed' } });
    if (i < 10) ops.push({ type: 'reminder_add', ref: t, args: { type: 'before', offset_minutes: -30 } });
    else ops.push({ type: 'task_complete', ref: t, args: {} });
    if (i % 2 === 0) ops.push({ type: 'note_add', temp: `n${i}`, args: { content: `Idea ${i}: write it down before it goes` } });
    if (i % 4 === 0) ops.push({ type: 'note_update', ref: `n${i}`, args: { content: `Idea ${i}: written down, edited on the train` } });
  }
  return ops;
}

const mixOf = (ops: Op[]) => ops.reduce<Record<string, number>>((m, op) => ({ ...m, [op.type]: (m[op.type] ?? 0) + 1 }), {});

async function call(base: string, token: string, method: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The batch: one POST /sync; answers its time and how many results were not `ok`. */
async function sendBatch(base: string, user: BenchUser, ops: Op[]): Promise<{ ms: number; notOk: number; sample?: string }> {
  const commands = ops.map((op) => ({ type: op.type, uuid: randomUUID(), ...(op.temp ? { temp_id: op.temp } : {}), ...(op.ref ? { id: op.ref } : {}), args: op.args }));
  const t0 = performance.now();
  const res = await call(base, user.token, 'POST', '/sync', { commands });
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`POST /sync answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
  const results = res.body.data.results as { status: string; type: string; error?: unknown }[];
  const bad = results.filter((r) => r.status !== 'ok');
  return { ms, notOk: bad.length + (ops.length - results.length), sample: bad[0] ? JSON.stringify(bad[0]).slice(0, 300) : undefined };
}

const REST: Record<OpType, (ref: string | undefined) => { method: string; path: string; created: number }> = {
  task_add: () => ({ method: 'POST', path: '/tasks', created: 201 }),
  task_update: (id) => ({ method: 'PATCH', path: `/tasks/${id}`, created: 200 }),
  task_complete: (id) => ({ method: 'PATCH', path: `/tasks/${id}`, created: 200 }),
  subtask_add: (id) => ({ method: 'POST', path: `/tasks/${id}/subtasks`, created: 201 }),
  subtask_update: (id) => ({ method: 'PATCH', path: `/subtasks/${id}`, created: 200 }),
  note_add: () => ({ method: 'POST', path: '/notes', created: 201 }),
  note_update: (id) => ({ method: 'PATCH', path: `/notes/${id}`, created: 200 }),
  reminder_add: (id) => ({ method: 'POST', path: `/tasks/${id}/reminders`, created: 201 }),
};

/** The baseline: each op as its single operation, one after the other; answers the total time. */
async function sendOneByOne(base: string, user: BenchUser, ops: Op[]): Promise<{ ms: number; failed: number; sample?: string }> {
  const ids = new Map<string, string>();
  let failed = 0;
  let sample: string | undefined;
  const t0 = performance.now();
  for (const op of ops) {
    const r = REST[op.type](op.ref ? ids.get(op.ref) : undefined);
    const res = await call(base, user.token, r.method, r.path, op.type === 'task_complete' ? { completed: true } : op.args);
    if (res.status !== r.created) {
      failed++;
      sample ??= `${op.type} ${r.method} ${r.path} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`;
    } else if (op.temp) ids.set(op.temp, res.body.data.id as string);
  }
  return { ms: performance.now() - t0, failed, sample };
}

export interface SyncBatchResult {
  batches: number;
  commands: number;
  mix: Record<string, number>;
  /** POST /sync of the 100 commands, one batch at a time. */
  batch: LatencySummary;
  /** Results that were not `ok`, over every timed batch. */
  notOk: number;
  /** The same writes as single REST calls: the total per batch. */
  rest: LatencySummary;
  restFailed: number;
  /** batch p95 / REST total p95. */
  ratioP95: number;
}

export async function syncBatchPhase(o: { bench: BenchDatabase; issuer: TokenIssuer; base: string; batches: number; warmup: number; log: (s: string) => void }): Promise<SyncBatchResult> {
  const rounds = o.warmup + o.batches;
  const users = await createUsers(o.bench.db, o.issuer, 2 * rounds, 'syncbatch');
  const batch: number[] = [];
  const rest: number[] = [];
  let notOk = 0;
  let restFailed = 0;
  const samples: string[] = [];
  let commands = 0;
  let mix: Record<string, number> = {};
  for (let i = 0; i < rounds; i++) {
    const ops = offlineSession();
    commands = ops.length;
    mix = mixOf(ops);
    // Alternating which goes first, so neither always gets the quieter moment.
    const runBatch = async () => {
      const b = await sendBatch(o.base, users[2 * i]!, ops);
      if (i < o.warmup) return;
      batch.push(b.ms);
      notOk += b.notOk;
      if (b.sample) samples.push(b.sample);
    };
    const runRest = async () => {
      const r = await sendOneByOne(o.base, users[2 * i + 1]!, ops);
      if (i < o.warmup) return;
      rest.push(r.ms);
      restFailed += r.failed;
      if (r.sample) samples.push(r.sample);
    };
    if (i % 2 === 0) {
      await runBatch();
      await runRest();
    } else {
      await runRest();
      await runBatch();
    }
  }
  if (samples.length) o.log(`   not ok: ${samples.slice(0, 3).join('; ')}`);
  const b = summarize(batch);
  const r = summarize(rest);
  const result = { batches: o.batches, commands, mix, batch: b, notOk, rest: r, restFailed, ratioP95: Math.round((b.p95 / r.p95) * 1000) / 1000 };
  o.log(`   ${o.batches} batches of ${commands}: p50 / p95 / p99 ${b.p50} / ${b.p95} / ${b.p99} ms, not ok ${notOk}; as ${commands} REST calls: p50 / p95 ${r.p50} / ${r.p95} ms, failed ${restFailed}`);
  return result;
}
