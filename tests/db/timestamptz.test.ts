import { createRequire } from 'node:module';
import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import '../../db/index.js'; // registers the parser
import { parseTimestamptz } from '../../db/timestamptz.js';

// The timestamptz parser db/index.ts registers must give domain code the same Date as pg's own
// (postgres-date) for every text PostgreSQL writes: only faster.

// postgres-date itself, as pg-types (pg's type parsers) loads it.
const fromPgTypes = createRequire(createRequire(import.meta.url).resolve('pg-types'));
const reference = fromPgTypes('postgres-date') as (s: string) => Date | number | null;

const same = (text: string) => {
  const ours = parseTimestamptz(text);
  const theirs = reference(text);
  expect(ours instanceof Date ? ours.getTime() : ours, text).toEqual(theirs instanceof Date ? theirs.getTime() : theirs);
};

describe('parseTimestamptz', () => {
  it('is the parser pg uses for timestamptz', () => {
    expect(pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ)).toBe(parseTimestamptz);
  });

  it('reads every fraction of a second (0 to 6 digits) to the same millisecond as postgres-date', () => {
    for (let digits = 0; digits <= 6; digits++) {
      for (let f = 0; f < 10 ** digits; f += digits === 6 ? 13 : 1) {
        const fraction = digits === 0 ? '' : `.${String(f).padStart(digits, '0')}`;
        const text = `2026-01-19 10:30:59${fraction}+00`;
        const ms = (parseTimestamptz(text) as Date).getTime();
        if (ms !== (reference(text) as Date).getTime()) same(text);
      }
    }
  });

  it('gives the same Date as postgres-date for instants of 0100–9999 in a UTC session', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(100, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), fc.integer({ min: 0, max: 999 }), (ms, micros) => {
        const iso = new Date(ms).toISOString(); // 2026-01-19T10:30:00.123Z
        const fraction = `${iso.slice(20, 23)}${String(micros).padStart(3, '0')}`.replace(/0+$/, '');
        same(`${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${fraction}` : ''}+00`);
      }),
      { numRuns: 20_000 },
    );
  });

  it('leaves every other text to postgres-date: offsets, years before 100 or beyond 9999, BC, infinity', () => {
    for (const text of [
      '2026-01-19 10:30:00.5+01',
      '2026-01-19 10:30:00+05:30',
      '2026-01-19 10:30:00.123456-03',
      '2026-01-19 10:30:00-00:30:15',
      '0050-01-19 10:30:00+00',
      '0001-01-01 00:00:00+00 BC',
      '10000-01-01 00:00:00+00',
      '275760-09-13 00:00:00+00',
      'infinity',
      '-infinity',
    ]) same(text);
  });

  it('reads what PostgreSQL writes', async () => {
    const url = process.env.TEST_DATABASE_URL;
    if (!url) return; // the property above covers the format; this checks it against a server when one is at hand
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query("set time zone 'UTC'");
      const { rows } = await client.query<{ t: Date; text: string }>(
        "select t, t::text as text from (values (now()), ('1970-01-01 00:00:00+00'::timestamptz), ('9999-12-31 23:59:59.999999+00'), ('2026-03-04 05:06:07.08+00'), ('0099-01-01 00:00:00+00')) v(t)",
      );
      for (const r of rows) expect(r.t.getTime(), r.text).toBe((reference(r.text) as Date).getTime());
    } finally {
      await client.end();
    }
  });
});
