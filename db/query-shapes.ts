import { CompiledQuery, DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type Compilable, type RawBuilder } from 'kysely';
import { prepareStatement } from './index.js';
import type { DB } from './schema/index.js';

/** Kysely's query builder needs a database object to build with; nothing is ever run through this one. */
export const shapeBuilder = new Kysely<DB>({ dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (db) => new PostgresIntrospector(db), createQueryCompiler: () => new PostgresQueryCompiler() } });

const MARK = '\u0000value:';
/** Distinct shapes one QueryShapes keeps compiled at most. */
export const MAX_SHAPES = 256;

/**
 * A hot query whose SQL depends only on which options are present (its shape), compiled by Kysely
 * once per shape instead of built and compiled on every call: building and compiling the query
 * tree was the largest share of Kysely's CPU time on GET /tasks (bench/results/latest.md).
 * `build` receives markers in place of the values; they become the statement's parameters, and
 * each call substitutes its own values for them. With `prepared`, each shape's SQL also runs as a
 * named prepared statement (see prepareStatement: its SQL must name its columns). `build` may also
 * return a `sql` template (a RawBuilder), compiled the same way.
 */
export class QueryShapes<V extends Record<string, unknown>, R> {
  private readonly compiled = new Map<string, { sql: string; parameters: readonly unknown[] }>();

  constructor(
    private readonly build: (values: V, shape: string) => Compilable<R> | RawBuilder<R>,
    private readonly opts: { prepared?: boolean } = {},
  ) {}

  query(shape: string, values: V): CompiledQuery<R> {
    let c = this.compiled.get(shape);
    if (!c) {
      const markers = new Proxy(
        {},
        {
          get: (_t, name) => `${MARK}${String(name)}`,
          // A spread or Object.keys of the markers would see no values at all: name each one instead.
          ownKeys: () => {
            throw new Error('QueryShapes: build must name each value it uses, not spread or list them');
          },
        },
      ) as V;
      const built = this.build(markers, shape);
      const q = 'isRawBuilder' in built ? built.compile(shapeBuilder) : built.compile();
      if (q.sql.includes(MARK)) throw new Error('QueryShapes: a value was inlined into the SQL instead of passed as a parameter');
      if (this.opts.prepared) {
        if (/\*\s*(from|,)|\.\*/i.test(q.sql.replace(/count\(\*\)/gi, ''))) throw new Error('QueryShapes: a prepared shape must name its columns, not select *');
        prepareStatement(q.sql);
      }
      c = { sql: q.sql, parameters: q.parameters };
      // A statement with many optional parts (an update of any set of fields) has more shapes than
      // are worth keeping: past the bound, the rarer ones are compiled on each call.
      if (this.compiled.size < MAX_SHAPES) this.compiled.set(shape, c);
    }
    const parameters = c.parameters.map((p) => {
      if (typeof p !== 'string' || !p.startsWith(MARK)) return p;
      const name = p.slice(MARK.length);
      if (!(name in values)) throw new Error(`QueryShapes: no value for ${name}`);
      return values[name];
    });
    return CompiledQuery.raw(c.sql, parameters) as CompiledQuery<R>;
  }
}

/**
 * A statement of one fixed shape, built and compiled by Kysely once: the returned function gives the
 * compiled query for each call's values, to run with `db.executeQuery(…)`. For the hot statements
 * of the write paths: building and compiling a Kysely query costs more of the API's CPU than
 * sending it (bench/fixes.md row 42). `build` must not branch on a value or use one other than as
 * a parameter (it receives markers, not values; a value inlined into the SQL throws); a statement
 * whose SQL depends on its values is a QueryShapes.
 */
export function compileOnce<V extends Record<string, unknown>, R>(build: (values: V) => Compilable<R> | RawBuilder<R>): (values: V) => CompiledQuery<R> {
  const shapes = new QueryShapes<V, R>((values) => build(values));
  return (values) => shapes.query('', values);
}

/**
 * The shape of a row of values for an insert or an update: the keys it sets, sorted (a key whose
 * value is undefined is left out, as Kysely leaves it out of the statement).
 */
export const rowShape = (row: object): string =>
  Object.keys(row)
    .filter((k) => (row as Record<string, unknown>)[k] !== undefined)
    .sort()
    .join(',');

/** In a QueryShapes build: the markers of the keys a rowShape names, as the row to insert or set. */
export const rowOf = <Row>(markers: Record<string, unknown>, shape: string): Row =>
  Object.fromEntries(shape === '' ? [] : shape.split(',').map((k) => [k, markers[k]])) as Row;
