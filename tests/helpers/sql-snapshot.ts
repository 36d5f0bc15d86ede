import fs from 'node:fs';
import path from 'node:path';
import type { LogEvent } from 'kysely';
import { PROJECT_ROOT } from '../../src/project-root.js';

// Records the SQL each use case sends through Kysely, for db/sql/<area>.sql (reviewable in a diff,
// checked for drift by tests/db/sql-snapshots.test.ts).

const UPDATE_HINT = 'UPDATE_SQL_SNAPSHOTS=1 npm test -- tests/db/sql-snapshots.test.ts';
const BREAK_BEFORE = /^(from|where|inner join|left join|cross join|join|group by|having|order by|limit|offset|returning|on conflict|values|set|union all|union|for update|for no key update|for share)\b/i;
const JOIN_KIND = /\b(inner|left|right|full|outer|cross)$/i;

/**
 * One statement per block: whitespace outside quotes collapsed, and a new line before each main
 * clause at the top level (subqueries stay on their line). Values are parameters ($1…), never text.
 */
export function formatSql(text: string): string {
  const out: string[] = [];
  let line = '';
  let depth = 0;
  let i = 0;
  const src = text.trim();
  while (i < src.length) {
    const ch = src[i]!;
    if (ch === "'" || ch === '"') {
      const end = src.indexOf(ch, i + 1);
      const stop = end === -1 ? src.length : end + 1;
      line += src.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === '-' && src[i + 1] === '-') {
      const end = src.indexOf('\n', i);
      i = end === -1 ? src.length : end;
      continue;
    }
    if (/\s/.test(ch)) {
      while (i < src.length && /\s/.test(src[i]!)) i++;
      if (depth === 0 && BREAK_BEFORE.test(src.slice(i)) && line.trim() && !JOIN_KIND.test(line)) {
        out.push(line.trimEnd());
        line = '  ';
      } else if (!line.endsWith(' ') && !line.endsWith('(')) {
        line += ' ';
      }
      continue;
    }
    if (ch === '(') depth++;
    if (ch === ')') {
      depth--;
      line = line.trimEnd();
    }
    line += ch;
    i++;
  }
  out.push(line.trimEnd());
  return out.join('\n').replace(/;?$/, ';');
}

/** Is the access token's user still there, is its session still live (cached per process). */
export const AUTHENTICATION_CHECKS = [/^select "id"\n {2}from "users"\n {2}where "id" = \$1;$/, /^select "id"\n {2}from "refresh_tokens"\n {2}where "family_id" = \$1 and "revoked_at" is null\n {2}limit \$2;$/];

export class SqlRecorder {
  private capturing: string[] | null = null;
  private last = 0;

  /** Pass as startTestApp's `onQuery`. */
  readonly onQuery = (event: LogEvent): void => {
    if (!this.capturing) return;
    this.capturing.push(formatSql(event.query.sql));
    this.last = Date.now();
  };

  /**
   * The statements `run` sends, in the order they finish, including any that follow its answer
   * closely. Leading statements matching `skipLeading` are left out: authentication's checks, which
   * a per-process cache answers most of the time (src/domain/live-keys.ts), so whether they are
   * sent depends on timing, not on the use case.
   */
  async record(run: () => Promise<unknown>, skipLeading: RegExp[] = AUTHENTICATION_CHECKS): Promise<string[]> {
    const statements: string[] = [];
    this.capturing = statements;
    this.last = Date.now();
    try {
      await run();
      // Work the request started but did not await (event subscribers after commit).
      while (Date.now() - this.last < 40) await new Promise((r) => setTimeout(r, 10));
    } finally {
      this.capturing = null;
    }
    while (statements.length && skipLeading.some((re) => re.test(statements[0]!))) statements.shift();
    return statements;
  }
}

export interface UseCaseSql {
  /** e.g. "listTasks: GET /tasks, first page". */
  title: string;
  statements: string[];
}

/** The text of db/sql/<area>.sql. */
export function renderSqlFile(area: string, useCases: UseCaseSql[]): string {
  const head = [
    `-- The SQL the ${area} use cases send, statement by statement (parameters as $1…).`,
    `-- Written by tests/db/sql-snapshots.test.ts; do not edit. After a query change: ${UPDATE_HINT}`,
  ];
  const blocks = useCases.map((u) => [`-- ${u.title}`, ...u.statements].join('\n'));
  return [head.join('\n'), ...blocks].join('\n\n') + '\n';
}

/** Compares with db/sql/<area>.sql, or writes it when UPDATE_SQL_SNAPSHOTS=1. */
export function sqlSnapshot(area: string, text: string): { expected: string; actual: string; file: string; hint: string } {
  const file = path.join(PROJECT_ROOT, 'db', 'sql', `${area}.sql`);
  if (process.env.UPDATE_SQL_SNAPSHOTS === '1') {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
  const expected = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  return { expected, actual: text, file, hint: `db/sql/${area}.sql is out of date: review the change and run ${UPDATE_HINT}` };
}
