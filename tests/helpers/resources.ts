import { expect } from 'vitest';
import type { TestUser } from './users.js';

// Factories for user-owned resources, one per kind of id the contract takes, built through the API
// as a user would build them. `view()` is the owner's own read of the resource, to compare before
// and after someone else touches it.

export const OWNED_ID_KINDS = ['task_id', 'subtask_id', 'reminder_id', 'note_id', 'template_id', 'tombstone_id', 'notification_id', 'focus_session_id', 'user_id', 'webhook_id', 'token_id'] as const;
export type OwnedIdKind = (typeof OWNED_ID_KINDS)[number];
export const isOwnedIdKind = (name: string): name is OwnedIdKind => (OWNED_ID_KINDS as readonly string[]).includes(name);

export interface OwnedResource {
  kind: OwnedIdKind;
  id: string;
  /** The owner's read of it (the resource as the API shows it to them). */
  view(): Promise<unknown>;
}

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

function ok(res: { status: number; text: string; body: any }, what: string) {
  expect(res.status, `${what}: ${res.text.slice(0, 500)}`).toBeGreaterThanOrEqual(200);
  expect(res.status, `${what}: ${res.text.slice(0, 500)}`).toBeLessThan(300);
  return res.body;
}

async function viewOf(owner: TestUser, path: string) {
  const res = await owner.api.get(path);
  return { status: res.status, body: res.body };
}

async function findIn(owner: TestUser, path: string, id: string) {
  const res = await owner.api.get(path, { query: { limit: 100 } });
  return { status: res.status, item: (res.body?.data ?? []).find((x: { id?: string; tombstone_id?: string }) => (x.id ?? x.tombstone_id) === id) ?? null };
}

/** A personal access token of the owner's (its id; the secret is dropped). */
export async function createPersonalToken(owner: TestUser, scopes: string[] = ['tasks:read']): Promise<OwnedResource & { token: string }> {
  const created = ok(await owner.api.post('/tokens', { name: 'A script', scopes }), 'create a personal access token').data;
  return {
    kind: 'token_id',
    id: created.id,
    token: created.token,
    view: async () => {
      const res = await owner.api.get('/tokens');
      return { status: res.status, item: (res.body?.data ?? []).find((x: { id: string }) => x.id === created.id) ?? null };
    },
  };
}

export async function createTask(owner: TestUser, fields: Record<string, unknown> = {}): Promise<OwnedResource> {
  const task = ok(await owner.api.post('/tasks', { title: 'Prepare the quarterly report', due_date: inDays(2), estimated_duration: 60, ...fields }), 'create a task').data;
  return { kind: 'task_id', id: task.id, view: () => viewOf(owner, `/tasks/${task.id}`) };
}

export async function createSubtask(owner: TestUser): Promise<OwnedResource & { taskId: string }> {
  const task = await createTask(owner);
  const sub = ok(await owner.api.post(`/tasks/${task.id}/subtasks`, { title: 'Export the sales figures' }), 'create a subtask').data;
  ok(await owner.api.post(`/tasks/${task.id}/subtasks`, { title: 'Draft the summary' }), 'create a second subtask');
  return { kind: 'subtask_id', id: sub.id, taskId: task.id, view: () => viewOf(owner, `/tasks/${task.id}`) };
}

export async function createReminder(owner: TestUser): Promise<OwnedResource> {
  const task = await createTask(owner);
  const reminder = ok(await owner.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -60 }), 'create a reminder').data;
  return {
    kind: 'reminder_id',
    id: reminder.id,
    view: async () => ({ reminder: await viewOf(owner, `/reminders/${reminder.id}`), task: await task.view() }),
  };
}

export async function createNote(owner: TestUser): Promise<OwnedResource> {
  const note = ok(await owner.api.post('/notes', { content: 'Call the venue about the projector' }), 'create a note').data;
  return { kind: 'note_id', id: note.id, view: () => viewOf(owner, `/notes/${note.id}`) };
}

export async function createTemplate(owner: TestUser): Promise<OwnedResource> {
  const template = ok(await owner.api.post('/templates', { title: 'Water the plants', rrule: 'FREQ=DAILY' }), 'create a template').data;
  return {
    kind: 'template_id',
    id: template.id,
    view: async () => ({ template: await viewOf(owner, `/templates/${template.id}`), tasks: (await owner.api.get('/tasks', { query: { limit: 100 } })).body }),
  };
}

/**
 * An open focus session on a new task. A user has one open session at most: an open one is ended
 * first, so a second call leaves the first session ended and the new one open.
 */
export async function createFocusSession(owner: TestUser): Promise<OwnedResource> {
  const task = await createTask(owner);
  const active = await owner.api.get('/focus-sessions/active');
  if (active.status === 200) ok(await owner.api.post(`/focus-sessions/${active.body.data.id}/end`, {}), 'end the open focus session');
  const session = ok(await owner.api.post('/focus-sessions', { task_id: task.id }), 'start a focus session').data;
  return {
    kind: 'focus_session_id',
    id: session.id,
    view: async () => ({ sessions: await viewOf(owner, `/tasks/${task.id}/focus-sessions`), task: await task.view() }),
  };
}

/**
 * An outgoing webhook endpoint on loopback (the app must run with PUSH_ALLOW_LOOPBACK; nothing
 * listens on port 9, and no worker runs while it is used, so nothing is delivered).
 */
export async function createWebhook(owner: TestUser): Promise<OwnedResource> {
  const hook = ok(await owner.api.post('/webhooks', { url: `https://127.0.0.1:9/hooks/${Math.random().toString(36).slice(2)}`, events: ['task.created', 'task.completed'] }), 'create a webhook').data;
  return {
    kind: 'webhook_id',
    id: hook.id,
    view: async () => ({ webhook: await viewOf(owner, `/webhooks/${hook.id}`), deliveries: await viewOf(owner, `/webhooks/${hook.id}/deliveries`) }),
  };
}

/** The user themself, for the routes under /users/{user_id}: their own achievements and activity are the view. */
export function ownUser(owner: TestUser): OwnedResource {
  return {
    kind: 'user_id',
    id: owner.id,
    view: async () => ({ achievements: await viewOf(owner, '/achievements/me'), activity: await viewOf(owner, '/activity') }),
  };
}

/** A deleted task's tombstone, or a deleted note's when `of` is `note`. */
export async function createTombstone(owner: TestUser, of: 'task' | 'note' = 'task'): Promise<OwnedResource> {
  const item = of === 'note' ? await createNote(owner) : await createTask(owner);
  const deleted = ok(await owner.api.delete(`/${of}s/${item.id}`), `delete a ${of}`).data;
  return { kind: 'tombstone_id', id: deleted.tombstone_id, view: () => findIn(owner, '/recovery/tombstones', deleted.tombstone_id) };
}

/**
 * `n` in-app notifications, each from a reminder that was due before it was created and so fires at
 * once. Needs the job worker running (`TestApp.startWorker()`); waits until all have arrived.
 */
export async function createNotifications(owner: TestUser, n: number): Promise<OwnedResource[]> {
  const before = (await owner.api.get('/notifications', { query: { limit: 100 } })).body.pagination.total as number;
  for (let made = 0; made < n; made += 5) {
    // At most 5 reminders per task.
    const task = await createTask(owner, { title: 'Stand-up', due_date: new Date(Date.now() - 60_000).toISOString() });
    for (let i = made; i < Math.min(n, made + 5); i++) {
      ok(await owner.api.post(`/tasks/${task.id}/reminders`, { type: 'absolute', scheduled_at: new Date(Date.now() - (i + 1) * 60_000).toISOString() }), 'create a due reminder');
    }
  }
  // Polled by hand rather than with expect.poll, so that this also works in beforeAll.
  const total = async () => (await owner.api.get('/notifications', { query: { limit: 100 } })).body.pagination.total as number;
  for (const deadline = Date.now() + 20_000; (await total()) < before + n; ) {
    if (Date.now() > deadline) throw new Error(`only ${(await total()) - before} of ${n} notifications arrived within 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await total()).toBe(before + n);
  const list = (await owner.api.get('/notifications', { query: { limit: n } })).body.data as { id: string }[];
  return list.map((x) => ({ kind: 'notification_id' as const, id: x.id, view: () => findIn(owner, '/notifications', x.id) }));
}

/**
 * One resource of `kind` owned by `owner`, for suites that derive the ids they need from the
 * contract. Tombstones are of tasks unless `tombstoneOf` says `note`; notifications need the worker
 * (see `createNotifications`) and are made in bulk there.
 */
export async function createOwned(owner: TestUser, kind: Exclude<OwnedIdKind, 'notification_id'>, opts: { tombstoneOf?: 'task' | 'note' } = {}): Promise<OwnedResource> {
  switch (kind) {
    case 'task_id':
      return createTask(owner);
    case 'subtask_id':
      return createSubtask(owner);
    case 'reminder_id':
      return createReminder(owner);
    case 'note_id':
      return createNote(owner);
    case 'template_id':
      return createTemplate(owner);
    case 'tombstone_id':
      return createTombstone(owner, opts.tombstoneOf);
    case 'focus_session_id':
      return createFocusSession(owner);
    case 'user_id':
      return ownUser(owner);
    case 'webhook_id':
      return createWebhook(owner);
    case 'token_id':
      return createPersonalToken(owner);
  }
}
