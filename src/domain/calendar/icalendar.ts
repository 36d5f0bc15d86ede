import { offsetMinutesAt } from '../zones.js';

// Writing RFC 5545 iCalendar text: escaped TEXT values, content lines folded at 75 octets, CRLF
// line endings, and a VTIMEZONE for an IANA zone built from the zone rules the runtime knows (Intl).

/** A property: name, parameters (`TZID=Europe/Berlin`), value already in iCalendar form. */
export type Property = [name: string, value: string, params?: Record<string, string>];

/** RFC 5545 §3.3.11: backslash, semicolon and comma escaped, line breaks as `\n`, other control characters dropped. */
export function escapeText(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n')
    .replace(/[\u0000-\u0008\u000B-\u001F\u007F]/g, ''); // eslint-disable-line no-control-regex
}

/**
 * RFC 5545 §3.1: a content line longer than 75 octets continues on the next line after CRLF and one
 * space (which counts towards that line's 75). Never splits a UTF-8 character.
 */
export function foldLine(line: string): string {
  if (Buffer.byteLength(line, 'utf8') <= 75) return line;
  const out: string[] = [];
  let current = '';
  let octets = 0;
  let limit = 75;
  for (const ch of line) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (octets + size > limit) {
      out.push(current);
      current = ' ';
      octets = 1;
      limit = 75;
    }
    current += ch;
    octets += size;
  }
  out.push(current);
  return out.join('\r\n');
}

export function contentLine([name, value, params]: Property): string {
  const p = Object.entries(params ?? {})
    .map(([k, v]) => `;${k}=${/[:;,]/.test(v) ? `"${v.replace(/"/g, '')}"` : v}`)
    .join('');
  return foldLine(`${name}${p}:${value}`);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** DATE-TIME in UTC: `20260119T103000Z`. */
export const utcDateTime = (d: Date): string =>
  `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;

/** DATE-TIME of a wall clock (a floating Date, whose UTC fields are the wall clock): `20260119T103000`. */
export const localDateTime = (floating: Date): string => utcDateTime(floating).slice(0, -1);

/** UTC-OFFSET: `+0100`, `-0930`, `+0545`. */
export function utcOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const m = Math.abs(minutes);
  return `${sign}${pad(Math.floor(m / 60))}${pad(m % 60)}`;
}

/** A component as content lines, children included. */
export function component(name: string, properties: Property[], children: string[][] = []): string[] {
  return [`BEGIN:${name}`, ...properties.map(contentLine), ...children.flat(), `END:${name}`];
}

/** The whole object, CRLF after every line (the last one too). */
export const serialize = (lines: string[]): string => `${lines.join('\r\n')}\r\n`;

// ------------------------------------------------------------------ VTIMEZONE

interface Transition {
  /** The first instant with the new offset. */
  at: Date;
  from: number;
  to: number;
}

const MINUTE_MS = 60_000;
const WEEK_MS = 7 * 86_400_000;
const WEEKDAYS = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];

/** Every change of `zone`'s UTC offset from `fromYear` to `toYear` (inclusive), to the minute. */
function transitions(zone: string, fromYear: number, toYear: number): Transition[] {
  const found: Transition[] = [];
  const end = Date.UTC(toYear + 1, 0, 1);
  let t = Date.UTC(fromYear, 0, 1);
  let offset = offsetMinutesAt(new Date(t), zone);
  while (t < end) {
    const next = Math.min(t + WEEK_MS, end);
    const nextOffset = offsetMinutesAt(new Date(next), zone);
    if (nextOffset !== offset) {
      // Zones change offset at most once within a week: bisect to the minute.
      let lo = t;
      let hi = next;
      while (hi - lo > MINUTE_MS) {
        const mid = lo + Math.max(1, Math.floor((hi - lo) / 2 / MINUTE_MS)) * MINUTE_MS;
        if (offsetMinutesAt(new Date(mid), zone) === offset) lo = mid;
        else hi = mid;
      }
      found.push({ at: new Date(hi), from: offset, to: nextOffset });
    }
    t = next;
    offset = nextOffset;
  }
  return found;
}

/** A transition as a yearly rule: its month, the nth (or last, -1) weekday and the wall-clock time it happens at. */
function ruleOf(tr: Transition) {
  const wall = new Date(tr.at.getTime() + tr.from * MINUTE_MS); // the old wall clock at the change
  const day = wall.getUTCDate();
  const daysInMonth = new Date(Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth() + 1, 0)).getUTCDate();
  return {
    wall,
    month: wall.getUTCMonth() + 1,
    weekday: WEEKDAYS[wall.getUTCDay()]!,
    nth: Math.ceil(day / 7),
    last: day + 7 > daysInMonth,
    time: wall.getUTCHours() * 60 + wall.getUTCMinutes(),
  };
}

const observance = (tr: { from: number; to: number }, start: Date, extra: Property[] = []): string[] =>
  component(tr.to > tr.from ? 'DAYLIGHT' : 'STANDARD', [['DTSTART', localDateTime(start)], ['TZOFFSETFROM', utcOffset(tr.from)], ['TZOFFSETTO', utcOffset(tr.to)], ...extra]);

const cache = new Map<string, string[]>();

/**
 * A VTIMEZONE for `zone` valid from `fromYear` on. Changes up to two years from now are listed;
 * when the latest ones follow a yearly rule ("last Sunday of March at 02:00"), that rule is written
 * as an RRULE without end, so clients extend it to any later date. A zone without changes is one
 * STANDARD observance.
 */
export function vtimezone(zone: string, fromYear: number, now = new Date()): string[] {
  const toYear = now.getUTCFullYear() + 2;
  const key = `${zone}|${fromYear}|${toYear}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const all = transitions(zone, fromYear, toYear);
  const start = new Date(Date.UTC(fromYear, 0, 1));
  const initial = offsetMinutesAt(start, zone);
  // The offset in force at the start of the range, before the first listed change.
  const children: string[][] = [
    component(all[0] && all[0].to < all[0].from ? 'DAYLIGHT' : 'STANDARD', [
      ['DTSTART', localDateTime(new Date(start.getTime() + initial * MINUTE_MS))],
      ['TZOFFSETFROM', utcOffset(initial)],
      ['TZOFFSETTO', utcOffset(initial)],
    ]),
  ];
  // Per direction of change, the longest run of yearly changes up to the last listed year that
  // one rule describes (same offsets, month, weekday, time, and nth or last weekday).
  const listed = new Set<Transition>();
  for (const forward of [true, false]) {
    const list = all.filter((tr) => tr.to > tr.from === forward);
    if (!list.length) continue;
    const rules = list.map(ruleOf);
    const end = list.length - 1;
    const lastRule = rules[end]!;
    const byLast = lastRule.last && lastRule.nth >= 4;
    const key = (i: number) => [list[i]!.from, list[i]!.to, rules[i]!.month, rules[i]!.weekday, rules[i]!.time, byLast ? rules[i]!.last : rules[i]!.nth].join('|');
    let first = end;
    while (first > 0 && key(first - 1) === key(end) && rules[first - 1]!.wall.getUTCFullYear() === rules[first]!.wall.getUTCFullYear() - 1) first--;
    if (end - first >= 1 && lastRule.wall.getUTCFullYear() === toYear) {
      const byday = `${byLast ? -1 : lastRule.nth}${lastRule.weekday}`;
      children.push(observance(list[first]!, rules[first]!.wall, [['RRULE', `FREQ=YEARLY;BYMONTH=${lastRule.month};BYDAY=${byday}`]]));
      for (const tr of list.slice(first)) listed.add(tr);
    }
  }
  for (const tr of all) if (!listed.has(tr)) children.push(observance(tr, ruleOf(tr).wall));
  const lines = component('VTIMEZONE', [['TZID', zone], ['X-LIC-LOCATION', zone]], children);
  cache.set(key, lines);
  return lines;
}
