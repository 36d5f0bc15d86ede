import { CompiledQuery, DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type Compilable, type RawBuilder } from 'kysely';
import { prepareStatement } from './index.js';
import type { DB } from './schema/index.js';

/** Kysely's query builder needs a database object to build with; nothing is ever run through this one. */
export const shapeBuilder = new Kysely<DB>({ dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (db) => new PostgresIntrospector(db), createQueryCompiler: () => new PostgresQueryCompiler() } });

const MARK = '\u0000value:';

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
      const markers = new Proxy({}, { get: (_t, name) => `${MARK}${String(name)}` }) as V;
      const built = this.build(markers, shape);
      const q = 'isRawBuilder' in built ? built.compile(shapeBuilder) : built.compile();
      if (q.sql.includes(MARK)) throw new Error('QueryShapes: a value was inlined into the SQL instead of passed as a parameter');
      if (this.opts.prepared) {
        if (/\*\s*(from|,)|\.\*/i.test(q.sql.replace(/count\(\*\)/gi, ''))) throw new Error('QueryShapes: a prepared shape must name its columns, not select *');
        prepareStatement(q.sql);
      }
      c = { sql: q.sql, parameters: q.parameters };
      this.compiled.set(shape, c);
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
