import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { serverState } from './replica.js';

// Property (issue 19 item 2): random batches of offline commands, applied to a local model the way
// a client would (temp_ids, versions it knows, ids that may be gone), and sent to POST /sync, end in
// the same state on the server; each command's result is the one the model predicts; a batch sent
// again answers the same and changes nothing.
// Replay a failure with FC_SEED=<seed> (and FC_PATH=<path>) npx vitest run tests/sync/commands-property.test.ts

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const PATH = process.env.FC_PATH;
const RUNS = Number(process.env.FC_RUNS ?? 10);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

type Abstract =
  | { op: 'task_add' | 'note_add'; temp: boolean }
  | { op: 'task_update'; i: number; stale: boolean; word: string }
  | { op: 'subtask_add'; i: number; temp: boolean }
  | { op: 'subtask_update' | 'note_update'; i: number; word: string }
  | { op: 'task_complete' | 'task_uncomplete' | 'task_delete' | 'subtask_delete' | 'note_delete'; i: number };

const i = fc.nat(30);
const word = fc.constantFrom('alpha', 'beta', 'gamma', 'Café');
const abstract: fc.Arbitrary<Abstract> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constantFrom('task_add', 'note_add' as const), temp: fc.boolean() }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('task_update' as const), i, stale: fc.boolean(), word }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('subtask_add' as const), i, temp: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constantFrom('subtask_update', 'note_update' as const), i, word }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constantFrom('task_complete', 'task_uncomplete', 'task_delete', 'subtask_delete', 'note_delete' as const), i }), weight: 4 },
);
/** A session: batches, each maybe sent twice (the answer was lost). */
const session = fc.array(fc.record({ commands: fc.array(abstract, { minLength: 1, maxLength: 12 }), resend: fc.boolean() }), { minLength: 1, maxLength: 4 });

interface MTask { title: string; completed: boolean; version: number; subtasks: string[] }
interface Model {
  tasks: Map<string, MTask>;
  subtasks: Map<string, { taskId: string; title: string }>;
  notes: Map<string, string>;
  /** Every id the client has seen, gone or not, and the temp_ids of the current batch. */
  known: { task: string[]; subtask: string[]; note: string[] };
}
const SUBTASK_LIMIT = 10; // Pro
const NOTE_LIMIT = 25; // Pro

type Prediction = { status: 'ok' } | { status: 'error'; code: string };
const ok: Prediction = { status: 'ok' };
const err = (code: string): Prediction => ({ status: 'error', code });
/** Results by type and outcome, printed at the end: shows the batches really exercise each case. */
const outcomes = new Map<string, number>();

it('random offline batches end in the state the client predicts, with the results it predicts', async () => {
  console.log(`[sync-commands-property] seed ${SEED}${PATH ? `, path ${PATH}` : ''}, ${RUNS} runs`);
  let counter = 0;
  const property = fc.asyncProperty(session, async (batches) => {
    const user = await signUp(t, { tier: 'pro' });
    const m: Model = { tasks: new Map(), subtasks: new Map(), notes: new Map(), known: { task: [], subtask: [], note: [] } };
    for (const batch of batches) {
      const temps = new Map<string, string | null>(); // temp_id → real id (null: its command failed)
      const pick = (kind: keyof Model['known'], n: number) => {
        const list = m.known[kind];
        return list.length === 0 ? randomUUID() : list[n % list.length]!;
      };
      const commands = batch.commands.map((a) => {
        const uuid = randomUUID();
        const name = `t${++counter}`;
        switch (a.op) {
          case 'task_add':
            if (a.temp) m.known.task.push(name);
            return { type: a.op, uuid, ...(a.temp ? { temp_id: name } : {}), args: { title: `task ${counter}` } };
          case 'note_add':
            if (a.temp) m.known.note.push(name);
            return { type: a.op, uuid, ...(a.temp ? { temp_id: name } : {}), args: { content: `note ${counter}` } };
          case 'subtask_add': {
            const id = pick('task', a.i);
            if (a.temp) m.known.subtask.push(name);
            return { type: a.op, uuid, id, ...(a.temp ? { temp_id: name } : {}), args: { title: `step ${counter}` } };
          }
          case 'task_update':
            // the version is filled in when the model reaches the command (it knows it then)
            return { type: a.op, uuid, id: pick('task', a.i), args: { title: `${a.word} task`, version: 1 }, stale: a.stale };
          case 'subtask_update':
            return { type: a.op, uuid, id: pick('subtask', a.i), args: { title: `${a.word} step` } };
          case 'note_update':
            return { type: a.op, uuid, id: pick('note', a.i), args: { content: `${a.word} note` } };
          case 'task_complete':
          case 'task_uncomplete':
          case 'task_delete':
            return { type: a.op, uuid, id: pick('task', a.i), args: {} };
          case 'subtask_delete':
            return { type: a.op, uuid, id: pick('subtask', a.i), args: {} };
          case 'note_delete':
            return { type: a.op, uuid, id: pick('note', a.i), args: {} };
        }
      });

      // The client's model, applied in order; the version of an update is the one it knows then.
      // An entity added offline has a placeholder id until the answer gives the real one.
      const real = (ref: string) => (temps.has(ref) ? (temps.get(ref) ?? undefined) : ref);
      const predictions: Prediction[] = [];
      for (const c of commands as any[]) {
        const target = c.id === undefined ? undefined : real(c.id);
        const task = target ? m.tasks.get(target) : undefined;
        const placeholder = `pending-${c.uuid}`;
        let p: Prediction = ok;
        let apply = () => {};
        switch (c.type) {
          case 'task_add':
            apply = () => {
              m.tasks.set(placeholder, { title: c.args.title, completed: false, version: 1, subtasks: [] });
              m.known.task.push(placeholder);
            };
            break;
          case 'note_add':
            if (m.notes.size >= NOTE_LIMIT) p = err('LIMIT_EXCEEDED');
            apply = () => {
              m.notes.set(placeholder, c.args.content);
              m.known.note.push(placeholder);
            };
            break;
          case 'subtask_add':
            if (!task) p = err('NOT_FOUND');
            else if (task.subtasks.length >= SUBTASK_LIMIT) p = err('LIMIT_EXCEEDED');
            apply = () => {
              m.subtasks.set(placeholder, { taskId: target!, title: c.args.title });
              task!.subtasks.push(placeholder);
              m.known.subtask.push(placeholder);
            };
            break;
          case 'task_update':
            if (!task) p = err('NOT_FOUND');
            else {
              c.args.version = c.stale ? task.version + 1 : task.version;
              if (c.stale) p = err('CONFLICT');
            }
            apply = () => {
              if (task!.title !== c.args.title) task!.version++;
              task!.title = c.args.title;
            };
            break;
          case 'task_complete':
          case 'task_uncomplete':
            if (!task) p = err('NOT_FOUND');
            apply = () => {
              const completed = c.type === 'task_complete';
              if (task!.completed !== completed) task!.version++;
              task!.completed = completed;
            };
            break;
          case 'task_delete':
            if (!task) p = err('NOT_FOUND');
            apply = () => {
              for (const sub of task!.subtasks) m.subtasks.delete(sub);
              m.tasks.delete(target!);
            };
            break;
          case 'subtask_update':
            if (!target || !m.subtasks.has(target)) p = err('NOT_FOUND');
            apply = () => void (m.subtasks.get(target!)!.title = c.args.title);
            break;
          case 'subtask_delete':
            if (!target || !m.subtasks.has(target)) p = err('NOT_FOUND');
            apply = () => {
              const owner = m.tasks.get(m.subtasks.get(target!)!.taskId)!;
              owner.subtasks = owner.subtasks.filter((sub) => sub !== target);
              m.subtasks.delete(target!);
            };
            break;
          case 'note_update':
            if (!target || !m.notes.has(target)) p = err('NOT_FOUND');
            apply = () => void m.notes.set(target!, c.args.content);
            break;
          case 'note_delete':
            if (!target || !m.notes.has(target)) p = err('NOT_FOUND');
            apply = () => void m.notes.delete(target!);
            break;
        }
        if (p.status === 'ok') apply();
        if (c.temp_id) temps.set(c.temp_id, p.status === 'ok' ? placeholder : null);
        predictions.push(p);
      }
      const body = commands.map(({ stale: _stale, ...c }: any) => c);
      const res = await user.api.post('/sync', { commands: body });
      expect(res.status, res.text).toBe(200);
      const results = res.body.data.results;
      expect(results.map((r: any) => (r.status === 'ok' ? 'ok' : r.error.code))).toEqual(predictions.map((p) => (p.status === 'ok' ? 'ok' : p.code)));
      results.forEach((r: any, k: number) => {
        const key = `${r.type} ${r.status === 'ok' ? 'ok' : r.error.code}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (r.status === 'ok' && r.type.endsWith('_add')) renameId(m, `pending-${commands[k]!.uuid}`, r.id, temps);
      });
      expect(res.body.data.temp_id_mapping).toEqual(Object.fromEntries([...temps].filter(([, v]) => v !== null)));

      if (batch.resend) {
        const again = await user.api.post('/sync', { commands: body });
        expect(again.body.data.results).toEqual(results);
        expect(again.body.data.temp_id_mapping).toEqual(res.body.data.temp_id_mapping);
      }
      // temp_ids belong to their batch; the next batch knows the real ids
      for (const kind of ['task', 'subtask', 'note'] as const) m.known[kind] = m.known[kind].filter((ref) => !/^t\d+$/.test(ref));
      expect(await projection(user)).toEqual(modelProjection(m));
    }
  });
  const details = await fc.check(property, { seed: SEED, numRuns: RUNS, ...(PATH ? { path: PATH, endOnFailure: true } : {}) });
  console.log(`[sync-commands-property] results: ${[...outcomes].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  console.log(`[sync-commands-property] seed ${details.seed}: ${details.numRuns} runs, ${details.failed ? `FAILED at path ${details.counterexamplePath}` : 'ok'}`);
  if (details.failed) throw details.errorInstance ?? new Error(`failed with seed ${details.seed} path ${details.counterexamplePath}: ${fc.stringify(details.counterexample)}`);
}, 300_000);

/** Replaces a placeholder id by the real one the answer gave, wherever the model holds it. */
function renameId(m: Model, from: string, to: string, temps: Map<string, string | null>): void {
  const move = <V>(map: Map<string, V>) => {
    if (!map.has(from)) return;
    const v = map.get(from)!;
    map.delete(from);
    map.set(to, v);
  };
  move(m.tasks);
  move(m.subtasks);
  move(m.notes);
  for (const task of m.tasks.values()) task.subtasks = task.subtasks.map((s) => (s === from ? to : s));
  for (const s of m.subtasks.values()) if (s.taskId === from) s.taskId = to;
  for (const [k, v] of temps) if (v === from) temps.set(k, to);
  for (const kind of ['task', 'subtask', 'note'] as const) m.known[kind] = m.known[kind].map((r) => (r === from ? to : r));
}

function modelProjection(m: Model) {
  return {
    tasks: Object.fromEntries([...m.tasks].map(([id, x]) => [id, { title: x.title, completed: x.completed, version: x.version }])),
    subtasks: Object.fromEntries([...m.subtasks].map(([id, s]) => [id, { task_id: s.taskId, title: s.title, order_index: m.tasks.get(s.taskId)!.subtasks.indexOf(id) }])),
    notes: Object.fromEntries(m.notes),
  };
}

async function projection(user: TestUser) {
  const s = await serverState(user);
  return {
    tasks: Object.fromEntries(Object.entries(s.task).map(([id, x]) => [id, { title: x.title, completed: x.completed, version: x.version }])),
    subtasks: Object.fromEntries(Object.entries(s.subtask).map(([id, x]) => [id, { task_id: x.task_id, title: x.title, order_index: x.order_index }])),
    notes: Object.fromEntries(Object.entries(s.note).map(([id, x]) => [id, x.content])),
  };
}
