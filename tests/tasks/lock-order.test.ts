import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAfterCompletion } from '../../src/domain/templates/generate-after-completion.js';
import type { ApiResponse } from '../helpers/client.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { newTask } from './fixtures.js';

// The global lock order of src/domain/locks.ts, exercised where two or three paths used to take
// the same locks in opposite orders: run them in parallel many times; a deadlock would surface as
// a 500 (PostgreSQL aborts one side with 40P01) and a wrong end state.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const ROUNDS = 30;
/** Each test below runs ROUNDS rounds of parallel requests. */
// A few seconds each on a quiet machine; the timeout only has to survive a heavily loaded one.
const SLOW = { timeout: 180_000 };
const DAY = 86_400_000;

function expectStatuses(res: ApiResponse, allowed: number[]) {
  expect(allowed, `${res.status} ${res.text}`).toContain(res.status);
}

const tomorrowNine = () => {
  const d = new Date(Date.now() + DAY);
  d.setUTCHours(9, 0, 0, 0);
  return d;
};

describe('focus vs deleting the task (finding 6a)', () => {
  it('ends a focus session while the task is deleted: never a 500, the session goes with the task', SLOW, async () => {
    const u = await signUp(t);
    for (let i = 0; i < ROUNDS; i++) {
      const task = await newTask(u);
      expect((await u.api.post('/focus/start', { task_id: task.id })).status).toBe(201);
      const [end, del] = await Promise.all([u.api.post('/focus/end', { task_id: task.id }), u.api.delete(`/tasks/${task.id}`)]);
      expectStatuses(end, [200, 404]);
      expectStatuses(del, [200]);
      expect((await u.api.get(`/tasks/${task.id}`)).status).toBe(404);
      // The cascade took the session (ended or not): no open session is left behind.
      expect(await t.db.selectFrom('focus_sessions').select('id').where('task_id', '=', task.id).execute()).toEqual([]);
    }
    expect(await t.db.selectFrom('focus_sessions').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
  });

  it('starts a focus session while the task is deleted: 201 or 404, never a 500 or a session on a deleted task', SLOW, async () => {
    const u = await signUp(t);
    for (let i = 0; i < ROUNDS; i++) {
      const task = await newTask(u);
      const [start, del] = await Promise.all([u.api.post('/focus/start', { task_id: task.id }), u.api.delete(`/tasks/${task.id}`)]);
      expectStatuses(start, [201, 404]);
      expectStatuses(del, [200]);
    }
    expect(await t.db.selectFrom('focus_sessions').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
  });
});

describe('active-task lock vs the template row (finding 6b)', () => {
  async function series(u: TestUser) {
    const start = tomorrowNine();
    const tpl = (await u.api.post('/templates', { title: 'Series', rrule: 'FREQ=DAILY', starts_at: start.toISOString() })).body.data;
    const first = (await u.api.get('/tasks')).body.data.find((x: any) => x.template_id === tpl.id);
    return { tpl, first };
  }

  async function expectOrderedSeries(u: TestUser, templateId: string, instances: number) {
    const rows = await t.db.selectFrom('task_instances').select('due_date').where('template_id', '=', templateId).where('user_id', '=', u.id).execute();
    const dues = rows.map((r) => r.due_date!.getTime());
    expect(dues).toHaveLength(instances);
    expect(new Set(dues).size).toBe(instances);
    const tpl = await t.db.selectFrom('task_templates').select('next_due').where('id', '=', templateId).executeTakeFirstOrThrow();
    expect(tpl.next_due!.getTime()).toBeGreaterThan(Math.max(...dues));
  }

  it('edits an instance\'s recurrence (with un-hide) while the template generates: never a 500, one instance per generation', SLOW, async () => {
    const u = await signUp(t);
    const { tpl, first } = await series(u);
    let version = first.version;
    for (let i = 0; i < ROUNDS; i++) {
      const rrule = i % 2 ? 'FREQ=DAILY' : 'FREQ=WEEKLY';
      const [edit, gen] = await Promise.all([
        u.api.patch(`/tasks/${first.id}`, { version, hidden: false, rrule, apply_to: 'template' }),
        u.api.post(`/templates/${tpl.id}/generate`),
      ]);
      expectStatuses(edit, [200]);
      expectStatuses(gen, [201]);
      version = edit.body.data.version;
    }
    await expectOrderedSeries(u, tpl.id, 1 + ROUNDS);
  });

  it('edits an instance\'s recurrence while the job generates after a completion: never an error, each completion gets its successor', SLOW, async () => {
    const u = await signUp(t);
    const { tpl, first } = await series(u);
    let version = first.version;
    for (let i = 0; i < ROUNDS; i++) {
      const done = (await u.api.post(`/templates/${tpl.id}/generate`)).body.data;
      expect((await u.api.patch(`/tasks/${done.id}`, { completed: true })).status).toBe(200);
      const rrule = i % 2 ? 'FREQ=DAILY' : 'FREQ=WEEKLY';
      const [edit, outcome] = await Promise.all([
        u.api.patch(`/tasks/${first.id}`, { version, hidden: false, rrule, apply_to: 'template' }),
        generateAfterCompletion(t.db, { templateId: tpl.id, completedTaskId: done.id }),
      ]);
      expectStatuses(edit, [200]);
      expect(outcome).toBe('generated');
      version = edit.body.data.version;
    }
    await expectOrderedSeries(u, tpl.id, 1 + 2 * ROUNDS);
  });
});

describe('recovery vs restore vs delete through the tombstones (finding 6c)', () => {
  it('recovers an instance while its template is deleted: never a 500, the instance comes back without the template', SLOW, async () => {
    const u = await signUp(t);
    for (let i = 0; i < ROUNDS; i++) {
      const tpl = (await u.api.post('/templates', { title: `Series ${i}`, rrule: 'FREQ=DAILY', starts_at: tomorrowNine().toISOString() })).body.data;
      const instance = (await u.api.get('/tasks', { query: { limit: 100 } })).body.data.find((x: any) => x.template_id === tpl.id);
      const tombstone = (await u.api.delete(`/tasks/${instance.id}`)).body.data.tombstone_id;
      const [recovered, dropped] = await Promise.all([u.api.post(`/tasks/recover/${tombstone}`), u.api.delete(`/templates/${tpl.id}`)]);
      expectStatuses(recovered, [200]);
      expectStatuses(dropped, [200]);
      expect((await u.api.get(`/tasks/${instance.id}`)).body.data).toMatchObject({ id: instance.id, template_id: null });
    }
  });


  it('recovers the oldest task tombstone while another task is un-hidden and deleted: never a 500, three tombstones left', SLOW, async () => {
    const u = await signUp(t);
    for (let i = 0; i < ROUNDS; i++) {
      const tombstones: string[] = [];
      for (let k = 0; k < 3; k++) {
        const victim = await newTask(u);
        tombstones.push((await u.api.delete(`/tasks/${victim.id}`)).body.data.tombstone_id);
      }
      const [oldest] = await t.db.selectFrom('deletion_tombstones').select(['id', 'entity_id']).where('id', '=', tombstones[0]!).execute();
      const x = await newTask(u);
      expect((await u.api.patch(`/tasks/${x.id}`, { hidden: true })).status).toBe(200);

      const [recovered, unhidden, deleted] = await Promise.all([
        u.api.post(`/tasks/recover/${tombstones[0]}`),
        u.api.patch(`/tasks/${x.id}`, { hidden: false }),
        u.api.delete(`/tasks/${x.id}`),
      ]);
      expectStatuses(recovered, [200, 404]);
      expectStatuses(unhidden, [200, 404]);
      expectStatuses(deleted, [200]);

      // Either way the oldest tombstone is gone (used up or dropped by the deletion) and the
      // deletion's own is the newest of three.
      const listed = (await u.api.get('/recovery/tombstones')).body.data.map((x: any) => x.id);
      expect(listed).toEqual([deleted.body.data.tombstone_id, tombstones[2], tombstones[1]]);
      expect((await u.api.get(`/tasks/${x.id}`)).status).toBe(404);
      expect((await u.api.get(`/tasks/${oldest!.entity_id}`)).status).toBe(recovered.status === 200 ? 200 : 404);
      // Keep the user under the active-task limit for the next round.
      if (recovered.status === 200) expect((await u.api.patch(`/tasks/${oldest!.entity_id}`, { completed: true })).status).toBe(200);
    }
  });

  it('recovers the oldest note tombstone while another note is restored and deleted: never a 500, three tombstones left', SLOW, async () => {
    const u = await signUp(t);
    const newNote = async (content: string) => (await u.api.post('/notes', { content })).body.data;
    for (let i = 0; i < ROUNDS; i++) {
      const tombstones: string[] = [];
      for (let k = 0; k < 3; k++) tombstones.push((await u.api.delete(`/notes/${(await newNote(`gone ${i}.${k}`)).id}`)).body.data.tombstone_id);
      const [oldest] = await t.db.selectFrom('deletion_tombstones').select(['id', 'entity_id']).where('id', '=', tombstones[0]!).execute();
      const n = await newNote(`archived ${i}`);
      expect((await u.api.patch(`/notes/${n.id}`, { archived: true })).status).toBe(200);

      const [recovered, restored, deleted] = await Promise.all([
        u.api.post(`/notes/recover/${tombstones[0]}`),
        u.api.patch(`/notes/${n.id}`, { archived: false }),
        u.api.delete(`/notes/${n.id}`),
      ]);
      expectStatuses(recovered, [200, 404]);
      expectStatuses(restored, [200, 404]);
      expectStatuses(deleted, [200]);

      const listed = (await u.api.get('/recovery/tombstones')).body.data.map((x: any) => x.id);
      expect(listed).toEqual([deleted.body.data.tombstone_id, tombstones[2], tombstones[1]]);
      expect((await u.api.get(`/notes/${n.id}`)).status).toBe(404);
      expect((await u.api.get(`/notes/${oldest!.entity_id}`)).status).toBe(recovered.status === 200 ? 200 : 404);
      // Keep the user under the active-note limit for the next round.
      if (recovered.status === 200) expect((await u.api.patch(`/notes/${oldest!.entity_id}`, { archived: true })).status).toBe(200);
    }
  });
});
