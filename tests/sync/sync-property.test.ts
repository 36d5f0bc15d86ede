import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNotification } from '../../src/domain/notifications/create-notification.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { inDays } from '../tasks/fixtures.js';
import { Replica, serverState } from './replica.js';

// Property (issue #8): whatever a user does, and whenever the client syncs (even stopping after a
// page), a copy kept only by applying /sync pages ends equal to what the GET endpoints show.
// Replay a failure with FC_SEED=<seed> (and FC_PATH=<path>) npx vitest run tests/sync/sync-property.test.ts

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const PATH = process.env.FC_PATH;
const RUNS = Number(process.env.FC_RUNS ?? 12);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

type Command =
  | { op: 'createTask' | 'createNote' | 'notify'; title: string }
  | { op: 'patchTask' | 'patchNote' | 'patchSubtask'; i: number; title: string }
  | { op: 'completeTask' | 'hideTask' | 'completeSubtask' | 'archiveNote'; i: number; on: boolean }
  | { op: 'deleteTask' | 'recoverTask' | 'createSubtask' | 'deleteSubtask' | 'createReminder' | 'deleteReminder' | 'deleteNote' | 'recoverNote' | 'readNotification' | 'deleteNotification'; i: number }
  | { op: 'readAll' }
  | { op: 'sync'; limit: number; maxPages: number };

const word = fc.constantFrom('alpha', 'beta', 'gamma', 'delta', 'Café', 'report', 'call');
const title = fc.tuple(word, fc.nat(999)).map(([w, n]) => `${w} ${n}`);
const i = fc.nat(20);
const on = fc.boolean();
const indexed = (op: Extract<Command, { i: number }>['op']) => fc.record({ op: fc.constant(op), i }) as fc.Arbitrary<Command>;
const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constantFrom('createTask', 'createNote', 'notify' as const), title }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constantFrom('patchTask', 'patchNote', 'patchSubtask' as const), i, title }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constantFrom('completeTask', 'hideTask', 'completeSubtask', 'archiveNote' as const), i, on }), weight: 3 },
  { arbitrary: indexed('createSubtask'), weight: 3 },
  { arbitrary: indexed('createReminder'), weight: 2 },
  { arbitrary: fc.oneof(indexed('deleteTask'), indexed('deleteNote'), indexed('deleteSubtask'), indexed('deleteReminder'), indexed('deleteNotification')), weight: 6 },
  { arbitrary: fc.oneof(indexed('recoverTask'), indexed('recoverNote')), weight: 3 },
  { arbitrary: indexed('readNotification'), weight: 1 },
  { arbitrary: fc.constant({ op: 'readAll' as const }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('sync' as const), limit: fc.integer({ min: 1, max: 10 }), maxPages: fc.integer({ min: 1, max: 3 }) }), weight: 4 },
);

/** The ids the sequence has seen, by kind; commands pick one by index (gone ones just fail). */
interface Seen {
  tasks: string[];
  taskTombstones: string[];
  subtasks: string[];
  reminders: string[];
  notes: string[];
  noteTombstones: string[];
  notifications: string[];
}
const pick = (list: string[], n: number) => (list.length === 0 ? undefined : list[n % list.length]);

/** Successful commands by op, printed at the end: shows the sequences really exercise each change. */
const succeeded = new Map<string, number>();

async function run(user: TestUser, replica: Replica, seen: Seen, c: Command): Promise<void> {
  const base = user.api;
  const count = <R extends { status: number }>(res: R): R => {
    if (res.status < 300) succeeded.set(c.op, (succeeded.get(c.op) ?? 0) + 1);
    return res;
  };
  const api = {
    get: base.get.bind(base),
    post: async (path: string, body?: unknown) => count(await base.post(path, body)),
    patch: async (path: string, body?: unknown) => count(await base.patch(path, body)),
    delete: async (path: string) => count(await base.delete(path)),
  };
  const taskVersion = async (id: string) => (await api.get(`/tasks/${id}`)).body?.data?.version as number | undefined;
  switch (c.op) {
    case 'createTask': {
      const res = await api.post('/tasks', { title: c.title, description: `about ${c.title}`, due_date: inDays(3) });
      if (res.status === 201) seen.tasks.push(res.body.data.id);
      return;
    }
    case 'patchTask': {
      const id = pick(seen.tasks, c.i);
      const version = id && (await taskVersion(id));
      if (id && version) await api.patch(`/tasks/${id}`, { title: c.title, version });
      return;
    }
    case 'completeTask':
    case 'hideTask': {
      const id = pick(seen.tasks, c.i);
      if (id) await api.patch(`/tasks/${id}`, c.op === 'completeTask' ? { completed: c.on } : { hidden: c.on });
      return;
    }
    case 'deleteTask': {
      const id = pick(seen.tasks, c.i);
      const res = id && (await api.delete(`/tasks/${id}`));
      if (res && res.status === 200) seen.taskTombstones.push(res.body.data.tombstone_id);
      return;
    }
    case 'recoverTask': {
      const id = pick(seen.taskTombstones, c.i);
      if (id) await api.post(`/tasks/recover/${id}`);
      return;
    }
    case 'createSubtask': {
      const id = pick(seen.tasks, c.i);
      const res = id && (await api.post(`/tasks/${id}/subtasks`, { title: `step ${c.i}` }));
      if (res && res.status === 201) seen.subtasks.push(res.body.data.id);
      return;
    }
    case 'patchSubtask':
    case 'completeSubtask': {
      const id = pick(seen.subtasks, c.i);
      if (id) await api.patch(`/subtasks/${id}`, 'title' in c ? { title: c.title } : { completed: c.on });
      return;
    }
    case 'deleteSubtask': {
      const id = pick(seen.subtasks, c.i);
      if (id) await api.delete(`/subtasks/${id}`);
      return;
    }
    case 'createReminder': {
      const id = pick(seen.tasks, c.i);
      const res = id && (await api.post(`/tasks/${id}/reminders`, { type: 'before', offset_minutes: -(c.i + 1) * 10 }));
      if (res && res.status === 201) seen.reminders.push(res.body.data.id);
      return;
    }
    case 'deleteReminder': {
      const id = pick(seen.reminders, c.i);
      if (id) await api.delete(`/reminders/${id}`);
      return;
    }
    case 'createNote': {
      const res = await api.post('/notes', { content: c.title });
      if (res.status === 201) seen.notes.push(res.body.data.id);
      return;
    }
    case 'patchNote':
    case 'archiveNote': {
      const id = pick(seen.notes, c.i);
      if (id) await api.patch(`/notes/${id}`, 'title' in c ? { content: c.title } : { archived: c.on });
      return;
    }
    case 'deleteNote': {
      const id = pick(seen.notes, c.i);
      const res = id && (await api.delete(`/notes/${id}`));
      if (res && res.status === 200) seen.noteTombstones.push(res.body.data.tombstone_id);
      return;
    }
    case 'recoverNote': {
      const id = pick(seen.noteTombstones, c.i);
      if (id) await api.post(`/notes/recover/${id}`);
      return;
    }
    case 'notify': {
      // Notifications are the server's own writes (reminders, achievements): made the way they are.
      seen.notifications.push((await createNotification(t.db, { userId: user.id, type: 'system', title: c.title, body: '' })).id);
      succeeded.set(c.op, (succeeded.get(c.op) ?? 0) + 1);
      return;
    }
    case 'readNotification': {
      const id = pick(seen.notifications, c.i);
      if (id) await api.patch(`/notifications/${id}/read`);
      return;
    }
    case 'deleteNotification': {
      const id = pick(seen.notifications, c.i);
      if (id) await api.delete(`/notifications/${id}`);
      return;
    }
    case 'readAll':
      await api.post('/notifications/read-all');
      return;
    case 'sync':
      await replica.sync({ limit: c.limit, maxPages: c.maxPages });
      return;
  }
}

it('a copy kept by /sync equals the server after any sequence of changes and syncs', async () => {
  console.log(`[sync-property] seed ${SEED}${PATH ? `, path ${PATH}` : ''}, ${RUNS} runs`);
  const property = fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 40 }), async (commands) => {
    const user = await signUp(t, { tier: 'pro' });
    const replica = new Replica(t, user);
    const seen: Seen = { tasks: [], taskTombstones: [], subtasks: [], reminders: [], notes: [], noteTombstones: [], notifications: [] };
    // A start every sequence shares, so its deletions and edits have targets the copy already holds.
    const start: Command[] = [
      { op: 'createTask', title: 'alpha 1' },
      { op: 'createTask', title: 'beta 2' },
      { op: 'createSubtask', i: 0 },
      { op: 'createSubtask', i: 1 },
      { op: 'createSubtask', i: 0 },
      { op: 'createReminder', i: 1 },
      { op: 'createNote', title: 'gamma 3' },
      { op: 'createNote', title: 'gamma 5' },
      { op: 'notify', title: 'delta 4' },
      { op: 'sync', limit: 3, maxPages: 10 },
      // one deleted task and note the copy has seen, for the sequence to recover (or not)
      { op: 'deleteTask', i: 1 },
      { op: 'deleteNote', i: 1 },
    ];
    for (const c of [...start, ...commands]) await run(user, replica, seen, c);
    await replica.sync({ limit: 7 });
    const server = await serverState(user);
    expect(replica.plain()).toEqual(server);
    // A client starting over gets the same from a full snapshot.
    const fresh = new Replica(t, user);
    await fresh.sync({ limit: 4 });
    expect(fresh.plain()).toEqual(server);
  });
  const details = await fc.check(property, { seed: SEED, numRuns: RUNS, ...(PATH ? { path: PATH, endOnFailure: true } : {}) });
  console.log(`[sync-property] successful changes: ${[...succeeded].map(([op, n]) => `${op} ${n}`).join(', ')}`);
  console.log(`[sync-property] seed ${details.seed}: ${details.numRuns} runs, ${details.failed ? `FAILED at path ${details.counterexamplePath}` : 'ok'}`);
  if (details.failed) throw details.errorInstance ?? new Error(`failed with seed ${details.seed} path ${details.counterexamplePath}: ${fc.stringify(details.counterexample)}`);
}, 300_000);
