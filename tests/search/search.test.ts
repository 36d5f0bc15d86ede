import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_DENSE, SEARCH_CANDIDATES, SEARCH_PROBE, WALK_BOUND, searchItems, type SearchPath } from '../../src/domain/search/search-items.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { newSubtask, newTask } from '../tasks/fixtures.js';

let t: TestApp;
let user: TestUser;
let other: TestUser;
let groceries: any;
let cafe: any;
let subtask: any;
let note: any;

const search = (u: TestUser, q: string, query: Record<string, number> = {}) => u.api.get('/search', { query: { q, ...query } });
const ids = (res: { body: any }) => res.body.data.map((r: any) => r.id);

beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
  other = await signUp(t);
  groceries = await newTask(user, { title: 'Buy groceries', description: 'Milk, eggs and <b>bread</b>' });
  cafe = await newTask(user, { title: 'Meet Zoë at the Café', description: 'Bring the groceries list' });
  subtask = await newSubtask(user, cafe.id, 'Reserve a table at Café Müller');
  const res = await user.api.post('/notes', { content: 'Weekend plans\nFarmers market: groceries and flowers' });
  expect(res.status, res.text).toBe(201);
  note = res.body.data;
  // Another user's matching data never shows.
  await newTask(other, { title: 'Other groceries', description: 'café' });
});
afterAll(() => t?.close());

describe('search', () => {
  it('matches the last word as a prefix, across tasks, subtasks and notes, typed by kind', async () => {
    const res = await search(user, 'gro');
    expect(res.status).toBe(200);
    expect(new Set(ids(res))).toEqual(new Set([groceries.id, cafe.id, note.id]));
    expect(res.body.pagination).toEqual({ offset: 0, limit: 25, total: 3, has_more: false });
    expect(res.body.truncated).toBe(false);
    const byId = Object.fromEntries(res.body.data.map((r: any) => [r.id, r]));
    expect(byId[groceries.id]).toMatchObject({ kind: 'task', task_id: null, title: 'Buy groceries' });
    expect(byId[note.id]).toMatchObject({ kind: 'note', task_id: null, title: 'Weekend plans' });
    expect(byId[note.id].snippet).toContain('<b>groceries</b>');
  });

  it('ranks a title match above a description match', async () => {
    const res = await search(user, 'groceries');
    const ranks = res.body.data.map((r: any) => r.rank);
    expect(ranks).toEqual([...ranks].sort((a, b) => b - a));
    const rank = (id: string) => res.body.data.find((r: any) => r.id === id).rank;
    expect(rank(groceries.id)).toBeGreaterThan(rank(cafe.id));
    expect(ids(res).indexOf(groceries.id)).toBeLessThan(ids(res).indexOf(cafe.id));
  });

  it('ignores accents and case, in the query and in the documents, and keeps them in the snippet', async () => {
    const res = await search(user, 'CAFE');
    expect(new Set(ids(res))).toEqual(new Set([cafe.id, subtask.id]));
    const sub = res.body.data.find((r: any) => r.id === subtask.id);
    expect(sub).toMatchObject({ kind: 'subtask', task_id: cafe.id, title: 'Reserve a table at Café Müller' });
    expect(sub.snippet).toContain('<b>Café</b>');
    expect(ids(await search(user, 'muller'))).toEqual([subtask.id]);
    expect(ids(await search(user, 'zoe'))).toEqual([cafe.id]);
    expect(ids(await search(user, 'Café'))).toHaveLength(2);
  });

  it('needs every word to match', async () => {
    expect(ids(await search(user, 'buy gro'))).toEqual([groceries.id]);
    expect(ids(await search(user, 'buy flowers'))).toEqual([]);
  });

  it('escapes HTML in snippets and treats operators in q as plain text', async () => {
    const res = await search(user, 'bread');
    expect(ids(res)).toEqual([groceries.id]);
    expect(res.body.data[0].snippet).not.toMatch(/<b>bread<\/b>.*<\/b>|&lt;b&gt;<b>/);
    expect(res.body.data[0].snippet).not.toContain('<b>bread</b></b>');
    for (const q of ["gro:* | !x", "'", '&', '!!!', '(', 'a & | b']) {
      const r = await search(user, q);
      expect(r.status, q).toBe(200);
    }
    expect(ids(await search(user, '!!!'))).toEqual([]);
    expect(ids(await search(user, 'gro:* | !x'))).toEqual([]);
  });

  it("finds only the caller's data", async () => {
    const res = await search(other, 'gro');
    expect(res.body.data).toHaveLength(1);
    expect(res.body.data[0].title).toBe('Other groceries');
    expect(ids(await search(other, 'weekend'))).toEqual([]);
  });

  it('pages through the results in a stable order', async () => {
    const all = ids(await search(user, 'gro'));
    const first = await search(user, 'gro', { limit: 2 });
    expect(first.body.pagination).toEqual({ offset: 0, limit: 2, total: 3, has_more: true });
    const second = await search(user, 'gro', { limit: 2, offset: 2 });
    expect(second.body.pagination).toEqual({ offset: 2, limit: 2, total: 3, has_more: false });
    expect([...ids(first), ...ids(second)]).toEqual(all);
    // past the end: no rows to carry the total, which is still counted
    const past = await search(user, 'gro', { limit: 2, offset: 10 });
    expect(past.body).toEqual({ data: [], pagination: { offset: 10, limit: 2, total: 3, has_more: false }, truncated: false });
  });

  it('follows changes: an edited title is found by its new words, a deleted task is gone', async () => {
    const task = await newTask(user, { title: 'Renew passport' });
    expect(ids(await search(user, 'passp'))).toEqual([task.id]);
    await user.api.patch(`/tasks/${task.id}`, { title: 'Renew driving licence', version: 1 });
    expect(ids(await search(user, 'passp'))).toEqual([]);
    expect(ids(await search(user, 'licen'))).toEqual([task.id]);
    await newSubtask(user, task.id, 'Photograph for the licence');
    expect(ids(await search(user, 'photograph'))).toHaveLength(1);
    const del = await user.api.delete(`/tasks/${task.id}`);
    expect(del.status).toBe(200);
    expect(ids(await search(user, 'licen'))).toEqual([]);
    expect(ids(await search(user, 'photograph'))).toEqual([]);
    // Recovery brings the task and its subtask back with their ids, and so into the results.
    expect((await user.api.post(`/tasks/recover/${del.body.data.tombstone_id}`)).status).toBe(200);
    expect(ids(await search(user, 'licen'))).toContain(task.id);
    expect(ids(await search(user, 'photograph'))).toHaveLength(1);
  });

  it('refuses a blank, missing or too long q and bad paging with 400 naming the field', async () => {
    for (const [query, field] of [
      [{ q: '' }, 'query.q'],
      [{ q: '   ' }, 'query.q'],
      [{}, 'query.q'],
      [{ q: 'x'.repeat(201) }, 'query.q'],
      [{ q: 'gro', limit: 0 }, 'query.limit'],
      [{ q: 'gro', offset: -1 }, 'query.offset'],
    ] as const) {
      const res = await user.api.get('/search', { query });
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    }
  });

  it('needs a token', async () => {
    expect((await t.api.get('/search', { query: { q: 'gro' } })).status).toBe(401);
  });
});

// More matches than a search ranks (docs/decisions/0008): the newest SEARCH_CANDIDATES are paged,
// best first, and the older ones are reached by a narrower query or once edited.
describe('search with more matches than it ranks', () => {
  let bulk: TestUser;
  let annual = '';
  let bodyMatch = '';
  let othersNewest = '';
  const insertTask = async (userId: string, title: string, description = '') =>
    (await sql<{ id: string }>`insert into task_instances (user_id, title, description) values (${userId}, ${title}, ${description}) returning id`.execute(t.db)).rows[0]!.id;
  /** Every id paging reaches, in order, with the pages' paginations. */
  const pageAll = async (u: TestUser, q: string) => {
    const seen: string[] = [];
    const pages: any[] = [];
    for (let offset = 0; ; offset += 100) {
      const res = await search(u, q, { offset, limit: 100 });
      expect(res.status, res.text).toBe(200);
      seen.push(...ids(res));
      pages.push(res.body);
      if (!res.body.pagination.has_more) return { seen, pages };
    }
  };

  beforeAll(async () => {
    bulk = await signUp(t);
    // Oldest first: one title match, then SEARCH_CANDIDATES + 4 more, then the newest, a description match.
    annual = await insertTask(bulk.id, 'Annual report');
    await sql`insert into task_instances (user_id, title) select ${bulk.id}, 'Weekly report ' || i from generate_series(1, ${SEARCH_CANDIDATES + 4}) i`.execute(t.db);
    bodyMatch = await insertTask(bulk.id, 'Call the bank', 'Ask about the report');
    // Another user's match, newer than all of them.
    othersNewest = await insertTask(other.id, 'Quarterly report');
  });

  it('pages the newest SEARCH_CANDIDATES matches, title matches above the description match, and says it is truncated', async () => {
    const first = await search(bulk, 'report');
    expect(first.status, first.text).toBe(200);
    expect(first.body.pagination).toEqual({ offset: 0, limit: 25, total: SEARCH_CANDIDATES, has_more: true });
    expect(first.body.truncated).toBe(true);
    expect(first.body.data.every((r: any) => r.title.startsWith('Weekly report'))).toBe(true);

    const { seen, pages } = await pageAll(bulk, 'report');
    expect(seen).toHaveLength(SEARCH_CANDIDATES);
    expect(new Set(seen).size).toBe(SEARCH_CANDIDATES);
    // The newest match is among them although only its description matches, ranked last.
    expect(seen.at(-1)).toBe(bodyMatch);
    // The oldest title match is beyond the cap, and another user's newer match is never there.
    expect(seen).not.toContain(annual);
    expect(seen).not.toContain(othersNewest);
    const ranks = pages.flatMap((p) => p.data.map((r: any) => r.rank));
    expect(ranks).toEqual([...ranks].sort((a, b) => b - a));
    expect(pages.at(-1).pagination).toEqual({ offset: SEARCH_CANDIDATES - 100, limit: 100, total: SEARCH_CANDIDATES, has_more: false });
    expect(pages.every((p) => p.truncated === true)).toBe(true);
  });

  it('counts total and has_more at the cap, on a page across it and past it', async () => {
    const across = await search(bulk, 'report', { offset: SEARCH_CANDIDATES - 10, limit: 25 });
    expect(across.body.data).toHaveLength(10);
    expect(across.body.pagination).toEqual({ offset: SEARCH_CANDIDATES - 10, limit: 25, total: SEARCH_CANDIDATES, has_more: false });
    const last = await search(bulk, 'report', { offset: SEARCH_CANDIDATES - 25, limit: 25 });
    expect(last.body.pagination.has_more).toBe(false);
    expect(await search(bulk, 'report', { offset: SEARCH_CANDIDATES - 26, limit: 25 }).then((r) => r.body.pagination.has_more)).toBe(true);
    const past = await search(bulk, 'report', { offset: SEARCH_CANDIDATES, limit: 25 });
    expect(past.body).toEqual({ data: [], pagination: { offset: SEARCH_CANDIDATES, limit: 25, total: SEARCH_CANDIDATES, has_more: false }, truncated: true });
  });

  it('reaches an older match with a narrower query, or once its text is edited', async () => {
    const narrow = await search(bulk, 'annual rep');
    expect(ids(narrow)).toEqual([annual]);
    expect(narrow.body).toMatchObject({ pagination: { total: 1, has_more: false }, truncated: false });
    await sql`update task_instances set title = 'Annual report, final' where id = ${annual}`.execute(t.db);
    expect((await pageAll(bulk, 'report')).seen).toContain(annual);
  });

  it("is not capped by another user's matches", async () => {
    const res = await search(other, 'report');
    expect(ids(res)).toEqual([othersNewest]);
    expect(res.body).toMatchObject({ pagination: { total: 1, has_more: false }, truncated: false });
  });
});

// How a search finds its candidates (docs/decisions/0009): a probe of the newest SEARCH_PROBE
// documents decides between walking them newest first and the GIN, and a walk that does not fill the
// candidates hands over to the GIN. Every way gives the same answer: the newest matches, ranked.
describe('the way a search finds its candidates', () => {
  let many: TestUser;
  const newest = async (userId: string, q: string) =>
    (
      await sql<{ id: string }>`select id from search_documents where user_id = ${userId} and document @@ to_tsquery('public.search_simple'::regconfig, ${q})
        order by changed_at desc, id desc limit ${SEARCH_CANDIDATES}`.execute(t.db)
    ).rows.map((r) => r.id);
  const run = async (u: TestUser, q: string) => {
    const paths: SearchPath[] = [];
    const seen: string[] = [];
    let first: Awaited<ReturnType<typeof searchItems>> | undefined;
    for (let offset = 0; ; offset += 100) {
      const found = await searchItems(t.db, { userId: u.id, q, page: { offset, limit: 100 }, onPath: (p) => paths.push(p) });
      first ??= found;
      seen.push(...found.data.map((r) => r.id));
      if (!found.pagination.has_more) break;
    }
    expect(new Set(paths).size, 'every page of one search takes the same way').toBe(1);
    return { path: paths[0], seen, total: first!.pagination.total, truncated: first!.truncated };
  };

  beforeAll(async () => {
    many = await signUp(t);
    // Oldest first: 300 "omega" tasks, then 2 300 "alpha" ones, every 13th of the newest 2 000 also "beta" (154).
    await sql`insert into task_instances (user_id, title)
      select ${many.id}, case when i <= 300 then 'Omega ticket ' || i when i > 600 and i % 13 = 0 then 'Alpha beta ' || i else 'Alpha item ' || i end
        from generate_series(1, 2600) i`.execute(t.db);
    expect(SEARCH_PROBE).toBeLessThan(2600 - 300);
    expect(PROBE_DENSE).toBeLessThanOrEqual(154);
    expect(WALK_BOUND).toBeGreaterThan(2600);
  });

  it('walks when the query is common among the newest documents, and stops at the candidates', async () => {
    const r = await run(many, 'alpha');
    expect(r.path).toBe('walk');
    expect(r).toMatchObject({ total: SEARCH_CANDIDATES, truncated: true });
    expect(new Set(r.seen)).toEqual(new Set(await newest(many.id, 'alpha')));
  });

  it('reads the GIN when the query is thin among them, and finds the older matches', async () => {
    const r = await run(many, 'omega');
    expect(r.path).toBe('gin');
    expect(r).toMatchObject({ total: 300, truncated: false });
    expect(new Set(r.seen)).toEqual(new Set(await newest(many.id, 'omega')));
  });

  it('keeps the newest candidates from the GIN when more match than a search ranks', async () => {
    const old = await signUp(t);
    // Oldest first: 1 200 "kappa" tasks, then a probe's worth of others: the GIN's way, with more matches than it keeps.
    await sql`insert into task_instances (user_id, title)
      select ${old.id}, case when i <= 1200 then 'Kappa ticket ' || i else 'Lambda item ' || i end
        from generate_series(1, ${1200 + SEARCH_PROBE}) i`.execute(t.db);
    const r = await run(old, 'kappa');
    expect(r.path).toBe('gin');
    expect(r).toMatchObject({ total: SEARCH_CANDIDATES, truncated: true });
    expect(new Set(r.seen)).toEqual(new Set(await newest(old.id, 'kappa')));
  });

  it('hands a walk that did not fill the candidates to the GIN, which sees every document', async () => {
    const r = await run(many, 'beta');
    expect(r.path).toBe('walk, then gin');
    expect(r).toMatchObject({ total: 154, truncated: false });
    expect(new Set(r.seen)).toEqual(new Set(await newest(many.id, 'beta')));
  });

  it('walks all of a caller with fewer documents than the probe, and a query matching nothing finds nothing', async () => {
    const small = await run(user, 'gro');
    expect(small.path).toBe('walk');
    expect(new Set(small.seen)).toEqual(new Set([groceries.id, cafe.id, note.id]));
    const none = await run(many, 'zzq');
    expect(none).toEqual({ path: 'gin', seen: [], total: 0, truncated: false });
  });

  it('answers the same over HTTP, ranked', async () => {
    const res = await search(many, 'beta', { limit: 100 });
    expect(res.status, res.text).toBe(200);
    expect(res.body.pagination).toEqual({ offset: 0, limit: 100, total: 154, has_more: true });
    const ranks = res.body.data.map((r: any) => r.rank);
    expect(ranks).toEqual([...ranks].sort((a: number, b: number) => b - a));
  });
});
