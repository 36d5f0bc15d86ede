import { sql } from 'kysely';
import { expect } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import type { TestUser } from '../helpers/users.js';

// A client's local copy kept by GET /sync, and the server's state read through the ordinary GET
// endpoints, in the same form, so the two can be compared.

export type Kind = 'task' | 'subtask' | 'reminder' | 'note' | 'notification';
const LISTS = { task: 'tasks', subtask: 'subtasks', reminder: 'reminders', note: 'notes', notification: 'notifications' } as const;
export type Copy = Record<Kind, Map<string, any>>;

export const emptyCopy = (): Copy => ({ task: new Map(), subtask: new Map(), reminder: new Map(), note: new Map(), notification: new Map() });

export class Replica {
  copy = emptyCopy();
  cursor: string | undefined;
  pages = 0;

  constructor(
    private readonly t: TestApp,
    private readonly user: TestUser,
  ) {}

  /** Applies one page: objects replace the local ones, deletions remove them. */
  apply(data: any): void {
    for (const kind of Object.keys(LISTS) as Kind[]) for (const o of data[LISTS[kind]]) this.copy[kind].set(o.id, o);
    for (const d of data.deletions) this.copy[d.entity_type as Kind].delete(d.id);
    this.cursor = data.cursor;
    this.pages++;
  }

  /** Syncs until has_more is false (or only `maxPages` pages, to stop mid-way). */
  async sync(opts: { limit?: number; maxPages?: number } = {}): Promise<void> {
    await settled(this.t, this.user.id);
    for (let i = 0; i < (opts.maxPages ?? Infinity); i++) {
      const res = await this.user.api.get('/sync', { query: { cursor: this.cursor, limit: opts.limit } });
      expect(res.status, res.text).toBe(200);
      this.apply(res.body.data);
      if (!res.body.data.has_more) return;
    }
  }

  plain(): Record<Kind, Record<string, any>> {
    return Object.fromEntries((Object.keys(LISTS) as Kind[]).map((k) => [k, Object.fromEntries([...this.copy[k]].sort(([a], [b]) => a.localeCompare(b)))])) as any;
  }
}

/**
 * Waits until every change of the user so far is final. Sync hands out a change once every
 * transaction older than it has ended, and transaction ids are shared by the whole server: another
 * test's open transaction, in any database, briefly holds changes back.
 */
export async function settled(t: TestApp, userId: string, pollMs = 50): Promise<void> {
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    const { rows } = await sql<{ ok: boolean }>`
      select coalesce(max(xid::text::numeric), 0) < pg_snapshot_xmin(pg_current_snapshot())::text::numeric as ok
        from sync_changes where user_id = ${userId}`.execute(t.db);
    if (rows[0]!.ok) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error('changes did not become final within 15 s');
}

async function listAll(user: TestUser, path: string, query: Record<string, string | boolean> = {}): Promise<any[]> {
  const out: any[] = [];
  for (let offset = 0; ; offset += 100) {
    const res = await user.api.get(path, { query: { ...query, offset, limit: 100 } });
    expect(res.status, res.text).toBe(200);
    out.push(...res.body.data);
    if (!res.body.pagination.has_more) return out;
  }
}

/** What the user has on the server, through the normal GET endpoints. */
export async function serverState(user: TestUser): Promise<Record<Kind, Record<string, any>>> {
  const copy = emptyCopy();
  const tasks = [...(await listAll(user, '/tasks', { hidden: false })), ...(await listAll(user, '/tasks', { hidden: true }))];
  for (const task of tasks) {
    const res = await user.api.get(`/tasks/${task.id}`);
    expect(res.status, res.text).toBe(200);
    const { subtasks, reminders, ...plain } = res.body.data;
    copy.task.set(task.id, plain);
    for (const s of subtasks) copy.subtask.set(s.id, s);
    for (const r of reminders) copy.reminder.set(r.id, r);
  }
  for (const n of await listAll(user, '/notes')) copy.note.set(n.id, n);
  for (const n of await listAll(user, '/notifications')) copy.notification.set(n.id, n);
  const r = new Replica(undefined as never, user);
  r.copy = copy;
  return r.plain();
}
