import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { iso, isoOrNull } from '../../src/domain/time.js';

// iso() computes the text itself (src/domain/time.ts): it must be toISOString()'s for every Date.

const LAST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

describe('iso', () => {
  it("writes toISOString()'s text for every instant of 1970–9999", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: LAST }), (t) => iso(new Date(t)) === new Date(t).toISOString()), { numRuns: 200_000 });
  });

  it('at the edges: the first and last instants, leap days, century years, each end of a day', () => {
    const edges = [0, 1, 999, 1000, LAST, LAST - 1, Date.UTC(1972, 1, 29), Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(2000, 2, 1), Date.UTC(2100, 1, 28, 12), Date.UTC(2100, 2, 1), Date.UTC(2400, 1, 29), Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2026, 0, 19, 10, 30)];
    for (let day = 0; day < 366 * 4; day++) edges.push(Date.UTC(2024, 0, 1 + day), Date.UTC(2024, 0, 1 + day) - 1);
    for (const t of edges) expect(iso(new Date(t))).toBe(new Date(t).toISOString());
  });

  it('leaves other Dates to toISOString(): before 1970, beyond 9999, invalid', () => {
    for (const t of [-1, Date.UTC(1, 0, 1), Date.UTC(-5, 0, 1), LAST + 1, 8.64e15]) expect(iso(new Date(t))).toBe(new Date(t).toISOString());
    expect(() => iso(new Date(Number.NaN))).toThrow(RangeError);
    expect(isoOrNull(null)).toBeNull();
    expect(isoOrNull(undefined)).toBeNull();
    expect(isoOrNull(new Date(5))).toBe('1970-01-01T00:00:00.005Z');
  });
});
