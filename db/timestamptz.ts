import pg from 'pg';

/** pg's own parser of timestamptz (postgres-date), as it is before db/index.ts sets this one: every text the fast path does not take. */
const pgParse = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date | number | null;

const digit = (s: string, i: number) => s.charCodeAt(i) - 48;
const two = (s: string, i: number) => digit(s, i) * 10 + digit(s, i + 1);

/**
 * A timestamptz as PostgreSQL writes it in a UTC session (`2026-01-19 10:30:00.123456+00`, the
 * fraction optional, 1 to 6 digits), as the Date postgres-date makes of it: the same instant, to the
 * millisecond (the fraction's first three digits; postgres-date's `1000 * parseFloat` truncates to
 * the same for every fraction, checked for all of them in tests/db/timestamptz.test.ts), read without
 * its regular expressions. Any other text (another offset, a year beyond 4 digits, BC, infinity)
 * goes to postgres-date.
 */
export function parseTimestamptz(s: string): Date | number | null {
  const n = s.length;
  if (n >= 22 && n <= 29 && s.charCodeAt(n - 3) === 43 /* + */ && s.charCodeAt(n - 2) === 48 && s.charCodeAt(n - 1) === 48 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45 && s.charCodeAt(10) === 32 && s.charCodeAt(13) === 58 && s.charCodeAt(16) === 58) {
    const year = digit(s, 0) * 1000 + digit(s, 1) * 100 + two(s, 2);
    let ms = 0;
    if (n > 22) {
      if (s.charCodeAt(19) !== 46 /* . */) return pgParse(s);
      const end = n - 3;
      ms = (20 < end ? digit(s, 20) * 100 : 0) + (21 < end ? digit(s, 21) * 10 : 0) + (22 < end ? digit(s, 22) : 0);
    }
    // Date.UTC reads years 0–99 as 1900–1999; those (and anything not digits: NaN) go to postgres-date.
    if (year >= 100) {
      const t = Date.UTC(year, two(s, 5) - 1, two(s, 8), two(s, 11), two(s, 14), two(s, 17), ms);
      if (t === t) return new Date(t);
    }
  }
  return pgParse(s);
}
