import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromFloating, nextOccurrence, parseRrule, toFloating } from '../../src/domain/templates/recurrence.js';

// The rule vocabulary is restricted so that every accepted rule keeps recurring: the rrule package
// scans period by period to the year 9999 when nothing matches, so an accepted rule without a next
// occurrence would also be a denial of service.

const weekday = fc.constantFrom('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU');
const part = fc.oneof(
  fc.integer({ min: 1, max: 30 }).map((n) => `INTERVAL=${n}`),
  fc.array(fc.tuple(fc.option(fc.integer({ min: -6, max: 6 }).filter((n) => n !== 0)), weekday), { minLength: 1, maxLength: 3 }).map((a) => `BYDAY=${a.map(([n, w]) => `${n ?? ''}${w}`).join(',')}`),
  fc.array(fc.integer({ min: -31, max: 31 }).filter((n) => n !== 0), { minLength: 1, maxLength: 3 }).map((a) => `BYMONTHDAY=${a.join(',')}`),
  fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 3 }).map((a) => `BYMONTH=${a.join(',')}`),
  fc.array(fc.integer({ min: -10, max: 10 }).filter((n) => n !== 0), { minLength: 1, maxLength: 2 }).map((a) => `BYSETPOS=${a.join(',')}`),
);
const rule = fc
  .tuple(fc.constantFrom('DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'), fc.uniqueArray(part, { maxLength: 4, selector: (p) => p.split('=')[0] }))
  .map(([freq, parts]) => [`FREQ=${freq}`, ...parts].join(';'));

describe('parseRrule', () => {
  it('accepts only rules that keep recurring, from any start and at any later time', () => {
    fc.assert(
      fc.property(rule, fc.integer({ min: 0, max: 3650 }), fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'), (r, laterDays, zone) => {
        let options;
        try {
          options = parseRrule(r);
        } catch {
          return;
        }
        const start = new Date('2026-03-10T08:00:00Z');
        expect(nextOccurrence({ rule: options, startsAt: start, zone, after: start, inclusive: true }), r).not.toBeNull();
        expect(nextOccurrence({ rule: options, startsAt: start, zone, after: new Date(start.getTime() + laterDays * 86_400_000), inclusive: false }), r).not.toBeNull();
      }),
      { numRuns: 400, seed: 20260310 },
    );
  });

  it.each([
    ['FREQ=MONTHLY;BYDAY=MO,1TH', 'mix'],
    ['FREQ=DAILY;BYDAY=1MO', 'numbered'],
    ['FREQ=DAILY;INTERVAL=2;BYDAY=MO', 'INTERVAL=1'],
    ['FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=15', 'no listed month'],
    ['FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29', 'only in some years'],
    ['FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6', 'BYSETPOS'],
    ['FREQ=WEEKLY;BYMONTHDAY=3', 'WEEKLY'],
    ['FREQ=YEARLY;BYWEEKNO=20', 'not supported'],
  ])('refuses %s with a reason', (r, reason) => {
    expect(() => parseRrule(r)).toThrowError(expect.objectContaining({ code: 'VALIDATION_ERROR', details: [expect.objectContaining({ field: 'body.rrule', message: expect.stringContaining(reason) })] }));
  });

  it('accepts everyday rules', () => {
    for (const r of ['FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH', 'FREQ=MONTHLY;BYDAY=-1FR', 'FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1', 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29', 'FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR', 'freq=daily;count=3']) {
      expect(() => parseRrule(r), r).not.toThrow();
    }
  });
});

describe('wall-clock conversion', () => {
  it('round-trips instants through a zone\'s wall clock, and maps a skipped hour forward', () => {
    const instant = new Date('2026-07-01T07:30:00.000Z');
    expect(toFloating(instant, 'Europe/Berlin').toISOString()).toBe('2026-07-01T09:30:00.000Z');
    expect(fromFloating(toFloating(instant, 'Europe/Berlin'), 'Europe/Berlin')).toEqual(instant);
    // 02:30 on 29 March 2026 does not exist in Berlin.
    expect(fromFloating(new Date('2026-03-29T02:30:00.000Z'), 'Europe/Berlin').toISOString()).toBe('2026-03-29T01:30:00.000Z');
  });
});
