import { toFloating } from './templates/recurrence.js';

// Wall clocks in IANA time zones. A "floating" date is a Date whose UTC fields are a wall clock
// (see templates/recurrence.ts); these helpers turn wall clocks into instants with RFC 5545's
// rules for the hours daylight saving time skips or repeats.

const HOUR_MS = 3_600_000;

/** The zone's offset from UTC at `instant`, in minutes (Europe/Berlin in summer: 120). */
export const offsetMinutesAt = (instant: Date, zone: string): number => Math.round((toFloating(instant, zone).getTime() - instant.getTime()) / 60_000);

/**
 * The instant at which `zone`'s wall clock shows `floating`. A wall clock that occurs twice (the
 * hour repeated when clocks go back) is its first occurrence; one that never occurs (the hour
 * skipped when clocks go forward) is read with the offset before the gap, so it lands as far after
 * the gap as it was into it (02:30 on the night Berlin skips 02:00–03:00 is 03:30). Both as RFC 5545
 * §3.3.5 says.
 */
export function wallClockToInstant(floating: Date, zone: string): Date {
  const wall = floating.getTime();
  const before = offsetMinutesAt(new Date(wall - 24 * HOUR_MS), zone);
  const after = offsetMinutesAt(new Date(wall + 24 * HOUR_MS), zone);
  const candidates = [...new Set([before, after])]
    .map((offset) => wall - offset * 60_000)
    .filter((t) => toFloating(new Date(t), zone).getTime() === wall)
    .sort((a, b) => a - b);
  return new Date(candidates[0] ?? wall - before * 60_000);
}
