import type pg from 'pg';

// Autovacuum's ANALYZE, done by the benchmark when the server runs without autovacuum (this
// machine's PostgreSQL has `autovacuum = off`; a server in service has it on). Without it a table
// that grows during a phase keeps the statistics it had when it was small, and a cached plan keeps
// the plan made for that size: graphile_worker.add_jobs' PL/pgSQL plan read the whole jobs table
// on every reminder created (52 000 sequential scans for 52 000 jobs, each slower than the last),
// which a server in service never sees. Same rule as autovacuum's defaults: every minute
// (autovacuum_naptime), each table with more changes since its last analyze than
// 50 + 10 % of its rows (autovacuum_analyze_threshold, autovacuum_analyze_scale_factor).

export interface AutoAnalyze {
  /** Whether the server runs autovacuum itself (then this does nothing). */
  serverHasAutovacuum: boolean;
  /** Tables analyzed so far, in order. */
  analyzed: string[];
  stop(): Promise<void>;
}

const NAPTIME_MS = 60_000;

export async function emulateAutoAnalyze(pool: pg.Pool, opts: { log?: (line: string) => void } = {}): Promise<AutoAnalyze> {
  const on = (await pool.query<{ autovacuum: string }>('show autovacuum')).rows[0]!.autovacuum === 'on';
  const analyzed: string[] = [];
  if (on) return { serverHasAutovacuum: true, analyzed, stop: async () => {} };
  let running: Promise<void> = Promise.resolve();
  const round = async () => {
    const { rows } = await pool.query<{ name: string }>(
      `select format('%I.%I', schemaname, relname) as name from pg_stat_user_tables
        where n_mod_since_analyze > 50 + 0.1 * greatest(n_live_tup, 0) order by n_mod_since_analyze desc`,
    );
    for (const { name } of rows) {
      await pool.query(`analyze ${name}`);
      analyzed.push(name);
    }
    if (rows.length) opts.log?.(`   (autovacuum's analyze, emulated: ${rows.map((r) => r.name).join(', ')})`);
  };
  const timer = setInterval(() => {
    running = running.then(round).catch((err: unknown) => opts.log?.(`   (emulated analyze failed: ${(err as Error).message})`));
  }, NAPTIME_MS);
  return {
    serverHasAutovacuum: false,
    analyzed,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
