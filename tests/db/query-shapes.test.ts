import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileOnce, MAX_SHAPES, QueryShapes, rowOf, rowShape, shapeBuilder } from '../../db/query-shapes.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

// The hot statements are built and compiled by Kysely once and run with each call's values
// (bench/fixes.md row 42): building and compiling a query cost more of the API's CPU per write than
// sending it. What must hold: each call runs with its own values, in their places; a value can never
// end up in the SQL text; a build that cannot see its values fails at once instead of running a
// different statement.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await sql`create table shapes_probe (id int primary key, label text, size int, note text)`.execute(t.db);
});
afterAll(async () => {
  await sql`drop table if exists shapes_probe`.execute(t.db);
  await t?.close();
});

type Probe = { id: number; label: string | null; size: number | null; note: string | null };
const probe = shapeBuilder as unknown as import('kysely').Kysely<{ shapes_probe: Probe }>;

describe('compileOnce', () => {
  it('builds once and runs each call with its own values', async () => {
    let builds = 0;
    const insert = compileOnce((v: { id: number; label: string; size: number }) => {
      builds++;
      return probe.insertInto('shapes_probe').values({ id: v.id, label: v.label, size: v.size }).returning(['id', 'label', 'size']);
    });
    const byId = compileOnce((v: { id: number }) => probe.selectFrom('shapes_probe').select(['id', 'label', 'size']).where('id', '=', v.id));

    expect((await t.db.executeQuery(insert({ id: 1, label: "it's one", size: 10 }))).rows).toEqual([{ id: 1, label: "it's one", size: 10 }]);
    expect((await t.db.executeQuery(insert({ id: 2, label: 'two; drop table shapes_probe', size: 20 }))).rows).toEqual([{ id: 2, label: 'two; drop table shapes_probe', size: 20 }]);
    expect(builds).toBe(1);
    expect(insert({ id: 3, label: 'x', size: 1 }).sql).toBe(insert({ id: 4, label: 'y', size: 2 }).sql);
    expect(insert({ id: 3, label: 'x', size: 1 }).parameters).toEqual([3, 'x', 1]);
    expect((await t.db.executeQuery(byId({ id: 2 }))).rows).toEqual([{ id: 2, label: 'two; drop table shapes_probe', size: 20 }]);
    expect((await t.db.executeQuery(byId({ id: 9 }))).rows).toEqual([]);
  });

  it('keeps the constants of the build as parameters beside the values', () => {
    const open = compileOnce((v: { id: number }) => probe.selectFrom('shapes_probe').select('id').where('id', '=', v.id).where('size', '>', 5).limit(3));
    const q = open({ id: 7 });
    expect(q.sql).toBe('select "id" from "shapes_probe" where "id" = $1 and "size" > $2 limit $3');
    expect(q.parameters).toEqual([7, 5, 3]);
  });

  it('refuses a build that puts a value into the SQL text', () => {
    const inlined = compileOnce((v: { label: string }) => probe.selectFrom('shapes_probe').select('id').where('label', '=', sql.lit(v.label)));
    expect(() => inlined({ label: 'one' })).toThrow(/inlined into the SQL/);
  });

  it('refuses a build that spreads its values instead of naming them', () => {
    const spread = compileOnce((v: { id: number; label: string }) => probe.insertInto('shapes_probe').values({ ...v }));
    expect(() => spread({ id: 5, label: 'five' })).toThrow(/name each value/);
  });

  it('refuses a call without a value the statement needs', () => {
    const byId = compileOnce((v: { id: number }) => probe.selectFrom('shapes_probe').select('id').where('id', '=', v.id));
    expect(() => byId({} as { id: number })).toThrow(/no value for id/);
  });
});

describe('rowShape and rowOf: an insert or update whose columns vary', () => {
  const updates = new QueryShapes<Partial<Probe> & { $id: number }, Probe>((v, shape) =>
    probe.updateTable('shapes_probe').set(rowOf<Partial<Probe>>(v, shape)).where('id', '=', v.$id).returning(['id', 'label', 'size', 'note']),
  );
  const update = (id: number, changes: Partial<Probe>) => t.db.executeQuery(updates.query(rowShape(changes), { ...changes, $id: id }));

  it('names the keys set, sorted, without the undefined ones', () => {
    expect(rowShape({ size: 1, label: 'a', note: undefined })).toBe('label,size');
    expect(rowShape({ note: null })).toBe('note');
    expect(rowShape({})).toBe('');
  });

  it('sets exactly the changed columns, each to its value, whatever the order of the keys', async () => {
    await t.db.executeQuery(compileOnce((v: { id: number }) => probe.insertInto('shapes_probe').values({ id: v.id, label: 'start', size: 1, note: 'kept' }))({ id: 10 }));
    expect((await update(10, { size: 2, label: 'renamed' })).rows[0]).toEqual({ id: 10, label: 'renamed', size: 2, note: 'kept' });
    expect((await update(10, { label: 'again', size: 3 })).rows[0]).toEqual({ id: 10, label: 'again', size: 3, note: 'kept' });
    expect((await update(10, { note: null, size: undefined })).rows[0]).toEqual({ id: 10, label: 'again', size: 3, note: null });
    expect(updates.query('label,size', { label: 'a', size: 1, $id: 10 }).sql).toBe(updates.query('label,size', { size: 9, label: 'b', $id: 11 }).sql);
  });
});

describe('QueryShapes keeps at most MAX_SHAPES compiled', () => {
  it('compiles the shapes past the bound on each call, each still right', () => {
    let builds = 0;
    const shapes = new QueryShapes<{ id: number }, { id: number }>((v, shape) => {
      builds++;
      return probe.selectFrom('shapes_probe').select('id').where('id', '=', v.id).limit(Number(shape));
    });
    for (let n = 1; n <= MAX_SHAPES; n++) shapes.query(String(n), { id: n });
    expect(builds).toBe(MAX_SHAPES);
    shapes.query('1', { id: 1 });
    expect(builds).toBe(MAX_SHAPES); // a kept one
    const past = shapes.query(String(MAX_SHAPES + 1), { id: 7 });
    const again = shapes.query(String(MAX_SHAPES + 1), { id: 8 });
    expect(builds).toBe(MAX_SHAPES + 2); // not kept: built each time
    expect(past.parameters).toEqual([7, MAX_SHAPES + 1]);
    expect(again.parameters).toEqual([8, MAX_SHAPES + 1]);
  });
});
