import * as rruleModule from 'rrule';
import type { Options } from 'rrule';
import { invalidField } from '../../core/errors.js';

// RFC 5545 recurrence with the `rrule` package. Occurrences are computed in the user's time zone
// at the wall-clock time of the template's start ("every Monday at 09:00" stays at 09:00 across
// daylight-saving changes): rrule works on "floating" dates whose UTC fields are that zone's wall
// clock, and the results are converted back to instants.

type RRuleClass = typeof rruleModule.RRule;
// rrule ships CommonJS for Node and ESM for bundlers; take the class from whichever loaded.
const RRule: RRuleClass =
  (rruleModule as unknown as { RRule?: RRuleClass }).RRule ?? (rruleModule as unknown as { default: { RRule: RRuleClass } }).default.RRule;

const FREQUENCIES = new Set(['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY']);
const WEEKDAY = /^([+-]?(?:[1-9]|[1-4][0-9]|5[0-3]))?(MO|TU|WE|TH|FR|SA|SU)$/;
const INT_LIST = /^[+-]?\d{1,3}(,[+-]?\d{1,3})*$/;
const inRange = ({ value: v, min, max, signed }: { value: string; min: number; max: number; signed: boolean }) =>
  INT_LIST.test(v) && v.split(',').every((n) => Math.abs(Number(n)) >= min && Math.abs(Number(n)) <= max && (signed || Number(n) > 0));
/** The parts a rule may have; DTSTART comes from `starts_at`, and sub-daily frequencies make no sense for tasks. */
const PART_CHECKS: Record<string, (v: string) => string | null> = {
  FREQ: (v) => (FREQUENCIES.has(v) ? null : `unknown FREQ value ${v} (use DAILY, WEEKLY, MONTHLY or YEARLY)`),
  INTERVAL: (v) => (/^[1-9]\d{0,3}$/.test(v) ? null : 'INTERVAL must be an integer from 1 to 9999'),
  COUNT: (v) => (/^[1-9]\d{0,3}$/.test(v) ? null : 'COUNT must be an integer from 1 to 9999'),
  UNTIL: (v) => (/^\d{8}(T\d{6}Z?)?$/.test(v) ? null : 'UNTIL must look like 20261231 or 20261231T235959Z'),
  BYDAY: (v) => (v.split(',').every((d) => WEEKDAY.test(d)) ? null : 'BYDAY must list weekdays such as MO,TU or 1MO'),
  BYMONTHDAY: (v) => (inRange({ value: v, min: 1, max: 31, signed: true }) ? null : 'BYMONTHDAY values must be 1..31 or -31..-1'),
  BYMONTH: (v) => (inRange({ value: v, min: 1, max: 12, signed: false }) ? null : 'BYMONTH values must be 1..12'),
  BYSETPOS: (v) => (inRange({ value: v, min: 1, max: 366, signed: true }) ? null : 'BYSETPOS values must be 1..366 or -366..-1'),
  WKST: (v) => (/^(MO|TU|WE|TH|FR|SA|SU)$/.test(v) ? null : 'WKST must be a weekday such as MO'),
};

/** How far ahead an occurrence is looked for (50 years); a rule with none within it counts as exhausted. */
const HORIZON_MS = 50 * 366 * 86_400_000;
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Refuses combinations that can never occur, or that occur only by chance of alignment with the
 * start. This is what keeps occurrence searches fast: the rrule package scans period by period up to
 * the year 9999 when no period matches (seconds of CPU for an impossible daily rule), so only rules
 * with a near next occurrence may be stored.
 */
function feasibilityProblem(parts: Map<string, string>): string | null {
  const freq = parts.get('FREQ')!;
  const interval = Number(parts.get('INTERVAL') ?? '1');
  const list = (key: string) => parts.get(key)?.split(',') ?? [];
  const days = list('BYDAY').map((d) => {
    const m = WEEKDAY.exec(d)!;
    return { n: m[1] === undefined ? null : Number(m[1]), weekday: m[2]! };
  });
  const ordinals = days.filter((d) => d.n !== null).map((d) => d.n!);
  const monthDays = list('BYMONTHDAY').map(Number);
  const months = list('BYMONTH').map(Number);
  const setPositions = list('BYSETPOS').map(Number);
  const weekdays = new Set(days.map((d) => d.weekday)).size;
  const monthly = freq === 'MONTHLY' || (freq === 'YEARLY' && months.length > 0);

  if (ordinals.length && freq !== 'MONTHLY' && freq !== 'YEARLY') return 'a numbered BYDAY (such as 1MO) needs FREQ=MONTHLY or YEARLY';
  // The rrule package finds no occurrence at all for a mix such as BYDAY=MO,1TH.
  if (ordinals.length && ordinals.length < days.length) return 'BYDAY cannot mix plain and numbered weekdays';
  if (ordinals.some((n) => Math.abs(n) > 5) && monthly) return 'a month has at most 5 of a weekday';
  if (monthDays.length && freq === 'WEEKLY') return 'BYMONTHDAY cannot be used with FREQ=WEEKLY';
  if (setPositions.length) {
    if (freq !== 'MONTHLY' && freq !== 'YEARLY') return 'BYSETPOS needs FREQ=MONTHLY or YEARLY';
    if (!days.length || ordinals.length || monthDays.length) return 'BYSETPOS works with plain BYDAY weekdays (such as BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1)';
    const fewest = freq === 'MONTHLY' ? 4 * weekdays : months.length ? 4 * weekdays * months.length : 52 * weekdays;
    if (setPositions.some((p) => Math.abs(p) > fewest)) return 'BYSETPOS picks a position that not every period has';
  }
  const filtered = days.length || monthDays.length || months.length;
  // With INTERVAL above 1 only some periods are visited, and a weekday-and-date coincidence (or a
  // fifth weekday) that depends on the calendar of those periods may never come.
  if (interval > 1 && days.length && monthDays.length) return 'with INTERVAL above 1, BYDAY and BYMONTHDAY cannot be combined';
  if (interval > 1 && ordinals.some((n) => (monthly ? Math.abs(n) === 5 : Math.abs(n) === 53))) return 'with INTERVAL above 1, a fifth (or 53rd) weekday may never occur';
  if (interval > 1 && filtered) {
    if (freq === 'DAILY') return 'with FREQ=DAILY, BYDAY, BYMONTHDAY and BYMONTH need INTERVAL=1';
    if (freq === 'WEEKLY' && months.length) return 'with FREQ=WEEKLY, BYMONTH needs INTERVAL=1';
    if (freq === 'MONTHLY' && (months.length || monthDays.some((d) => Math.abs(d) >= 29))) return 'with FREQ=MONTHLY and INTERVAL above 1, use BYMONTHDAY values -28..28 and no BYMONTH';
  }
  // Some listed month must have some listed day, and a numbered weekday must be able to fall on it.
  // A fit that needs 29 February (or the fifth weekday of a February) comes only in some leap years:
  // fine when every year is visited, never guaranteed with INTERVAL above 1.
  const lengths = (months.length ? months : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).flatMap((m) =>
    m === 2 ? [{ len: 28, leapOnly: false }, { len: 29, leapOnly: true }] : [{ len: MONTH_DAYS[m - 1]!, leapOnly: false }],
  );
  const onOrdinal = (day: number, len: number) =>
    !ordinals.length || ordinals.some((n) => (n > 0 ? day > 7 * (n - 1) && day <= 7 * n : day >= len + 7 * n + 1 && day <= len + 7 * (n + 1)));
  let fits: { leapOnly: boolean }[];
  if (monthDays.length) {
    if (ordinals.length && !monthly) return 'a numbered BYDAY with BYMONTHDAY needs BYMONTH (or FREQ=MONTHLY)';
    fits = lengths.filter(({ len }) =>
      monthDays.some((md) => {
        const day = md > 0 ? md : len + md + 1;
        return day >= 1 && day <= len && onOrdinal(day, len);
      }),
    );
    if (!fits.length) return 'no listed month has a day that matches BYMONTHDAY (and BYDAY)';
  } else if (monthly && ordinals.length && ordinals.every((n) => Math.abs(n) === 5)) {
    fits = lengths.filter(({ len }) => len >= 29).map(({ len }) => ({ leapOnly: len === 29 }));
    if (!fits.length) return 'February has no fifth weekday in a common year; use -1 for the last';
  } else {
    fits = [{ leapOnly: false }];
  }
  const rare = fits.every((f) => f.leapOnly) || (freq === 'YEARLY' && !months.length && ordinals.length > 0 && ordinals.every((n) => Math.abs(n) === 53));
  if (rare && interval > 1) return 'it occurs only in some years, so with INTERVAL above 1 it may never occur';
  return null;
}

export type RuleOptions = Partial<Options>;

/** Validates an RRULE value (FREQ required, known parts only, a combination that recurs) and parses it; 400 naming `field` otherwise. */
export function parseRrule(value: string, field = 'body.rrule'): RuleOptions {
  const bad = (why: string) => invalidField(field, `is not a valid RRULE: ${why}`);
  const rule = value.trim().toUpperCase();
  const parts = new Map<string, string>();
  for (const part of rule.split(';')) {
    const m = /^([A-Z]+)=([^=]+)$/.exec(part);
    if (!m) throw bad(`"${part}" is not KEY=VALUE`);
    const [, key, val] = m as unknown as [string, string, string];
    const check = PART_CHECKS[key];
    if (!check) throw bad(`${key} is not supported`);
    if (parts.has(key)) throw bad(`${key} appears twice`);
    const problem = check(val);
    if (problem) throw bad(problem);
    parts.set(key, val);
  }
  if (!parts.has('FREQ')) throw bad('FREQ is required');
  if (parts.has('COUNT') && parts.has('UNTIL')) throw bad('COUNT and UNTIL cannot both be given');
  const infeasible = feasibilityProblem(parts);
  if (infeasible) throw bad(infeasible);
  try {
    const options = RRule.parseString(rule);
    new RRule(options); // rejects combinations the parser let through
    return options;
  } catch (err) {
    throw bad(err instanceof Error ? err.message : 'does not parse');
  }
}

/** The rule in plain English ("every week on Monday"). */
export function describeRrule(value: string): string {
  try {
    return new RRule(RRule.parseString(value.trim().toUpperCase())).toText();
  } catch {
    return value;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(zone, f);
  }
  return f;
}

/** The wall-clock time of `instant` in `zone`, as a Date whose UTC fields are that wall clock. */
export function toFloating(instant: Date, zone: string): Date {
  const p: Record<string, number> = {};
  for (const { type, value } of formatterFor(zone).formatToParts(instant)) if (type !== 'literal') p[type] = Number(value);
  return new Date(Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!, instant.getUTCMilliseconds()));
}

/** The instant at which `zone`'s wall clock shows `floating` (in a DST gap: an hour later). */
export function fromFloating(floating: Date, zone: string): Date {
  const wall = floating.getTime();
  const offsetAt = (t: number) => toFloating(new Date(t), zone).getTime() - t;
  const first = wall - offsetAt(wall);
  const second = wall - offsetAt(first);
  return new Date(second);
}

/**
 * The rule's first occurrence after `after` (or at it, when `inclusive`), with the rule anchored at
 * `startsAt` in `zone`; null when there is none within ten years.
 */
export function nextOccurrence({ rule, startsAt, zone, after, inclusive }: { rule: RuleOptions; startsAt: Date; zone: string; after: Date; inclusive: boolean }): Date | null {
  const from = after.getTime() < startsAt.getTime() ? startsAt : after;
  const fromInclusive = from === startsAt ? true : inclusive;
  const floatingFrom = toFloating(from, zone);
  const horizon = new Date(floatingFrom.getTime() + HORIZON_MS);
  const until = rule.until && rule.until.getTime() < horizon.getTime() ? rule.until : horizon;
  const r = new RRule({ ...rule, dtstart: toFloating(startsAt, zone), until });
  let candidate = r.after(floatingFrom, fromInclusive);
  while (candidate) {
    const instant = fromFloating(candidate, zone);
    if (instant.getTime() > from.getTime() || (fromInclusive && instant.getTime() === from.getTime())) return instant;
    candidate = r.after(candidate, false);
  }
  return null;
}
