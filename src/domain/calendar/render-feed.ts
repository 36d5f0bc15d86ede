import { createHash } from 'node:crypto';
import type { Executor } from '../../../db/index.js';
import type { Priority, TaskRow, TaskTemplateRow } from '../../../db/schema/index.js';
import { notFound } from '../../core/errors.js';
import { toFloating } from '../templates/recurrence.js';
import { wallClockToInstant } from '../zones.js';
import { feedOwner } from './feed-tokens.js';
import { component, escapeText, localDateTime, serialize, utcDateTime, vtimezone, type Property } from './icalendar.js';

// The iCalendar (RFC 5545) feed behind a calendar feed URL, as Google Calendar, Apple Calendar and
// Outlook subscribe to it: VEVENTs (the one component all three show from a subscription; VTODO is
// ignored by Google and Outlook).
//
// * One event per open task with a due date: not completed, not hidden, not archived. It starts at
//   the due date (UTC) and lasts the task's estimated duration (DEFAULT_EVENT_MINUTES without one).
// * One recurring event per active recurring template: DTSTART is the template's start on the user's
//   wall clock (TZID = the profile's zone, with its VTIMEZONE), RRULE its rule, so every occurrence
//   keeps its wall-clock time across daylight-saving changes exactly as instances are generated.
//   The open instances of an active template are its occurrences already, so they are not repeated
//   as task events.
// * UIDs are stable (`task-<id>@…`, `template-<id>@…`); DTSTAMP and LAST-MODIFIED are the row's
//   `updated_at`, SEQUENCE a task's version: the text changes only when the data does (see `etag`).

export const DEFAULT_EVENT_MINUTES = 30;
/** Ceiling on events per kind; the active-task limit keeps real feeds far below it. */
const MAX_EVENTS = 2000;
const UID_DOMAIN = 'perpetua-flow';
const PRODID = '-//Perpetua Flow//Calendar feed 1.0//EN';
/** RFC 5545 PRIORITY: 1 highest, 9 lowest. */
const PRIORITY: Record<Priority, string> = { high: '1', medium: '5', low: '9' };

export interface RenderedFeed {
  body: string;
  /** A strong entity tag of the body, for If-None-Match. */
  etag: string;
}

const minutes = (n: number | null) => (n ?? DEFAULT_EVENT_MINUTES) * 60_000;

/** RRULE value of a template on the user's wall clock; UNTIL (read as that wall clock, as generation does) becomes the UTC instant RFC 5545 requires with a TZID start. */
export function feedRrule(rrule: string, zone: string): string {
  return rrule
    .trim()
    .toUpperCase()
    .split(';')
    .map((part) => {
      const m = /^UNTIL=(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z?)?$/.exec(part);
      if (!m) return part;
      const [, y, mo, d, h = '00', mi = '00', s = '00'] = m;
      const wall = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
      return `UNTIL=${utcDateTime(wallClockToInstant(wall, zone))}`;
    })
    .join(';');
}

function common(kind: 'task' | 'template', row: { id: string; title: string; description: string; priority: Priority; created_at: Date; updated_at: Date }): Property[] {
  const props: Property[] = [
    ['UID', `${kind}-${row.id}@${UID_DOMAIN}`],
    ['DTSTAMP', utcDateTime(row.updated_at)],
    ['CREATED', utcDateTime(row.created_at)],
    ['LAST-MODIFIED', utcDateTime(row.updated_at)],
    ['SUMMARY', escapeText(row.title)],
  ];
  if (row.description) props.push(['DESCRIPTION', escapeText(row.description)]);
  props.push(['PRIORITY', PRIORITY[row.priority]], ['TRANSP', 'TRANSPARENT'], ['CATEGORIES', kind === 'task' ? 'Task' : 'Recurring task']);
  return props;
}

function taskEvent(t: TaskRow): string[] {
  const due = t.due_date!;
  return component('VEVENT', [
    ...common('task', t),
    ['SEQUENCE', String(t.version - 1)],
    ['DTSTART', utcDateTime(due)],
    ['DTEND', utcDateTime(new Date(due.getTime() + minutes(t.estimated_duration)))],
  ]);
}

function templateEvent(t: TaskTemplateRow, zone: string): string[] {
  const start = toFloating(t.starts_at, zone);
  return component('VEVENT', [
    ...common('template', t),
    ['DTSTART', localDateTime(start), { TZID: zone }],
    ['DTEND', localDateTime(new Date(start.getTime() + minutes(t.estimated_duration))), { TZID: zone }],
    ['RRULE', feedRrule(t.rrule, zone)],
  ]);
}

/** The calendar of the user behind `token`: 404 (revealing nothing) for an unknown or revoked one. */
export async function renderFeed(db: Executor, token: string, now = new Date()): Promise<RenderedFeed> {
  const userId = await feedOwner(db, token, now);
  if (!userId) throw notFound('Calendar feed');
  const user = await db.selectFrom('users').select(['timezone']).where('id', '=', userId).executeTakeFirstOrThrow();
  const zone = user.timezone;
  const templates = await db
    .selectFrom('task_templates')
    .selectAll()
    .where('user_id', '=', userId)
    .where('active', '=', true)
    .orderBy('created_at')
    .orderBy('id')
    .limit(MAX_EVENTS)
    .execute();
  const covered = new Set(templates.map((t) => t.id));
  const tasks = (
    await db
      .selectFrom('task_instances')
      .selectAll()
      .where('user_id', '=', userId)
      .where('due_date', 'is not', null)
      .where('completed', '=', false)
      .where('hidden', '=', false)
      .where('archived', '=', false)
      .orderBy('due_date')
      .orderBy('id')
      .limit(MAX_EVENTS)
      .execute()
  ).filter((t) => t.template_id === null || !covered.has(t.template_id));

  const timezones = templates.length ? [vtimezone(zone, Math.max(1970, Math.min(...templates.map((t) => toFloating(t.starts_at, zone).getUTCFullYear())) - 1), now)] : [];
  const lines = component(
    'VCALENDAR',
    [
      ['VERSION', '2.0'],
      ['PRODID', PRODID],
      ['CALSCALE', 'GREGORIAN'],
      ['NAME', 'Perpetua Flow'],
      ['X-WR-CALNAME', 'Perpetua Flow'],
      ['X-WR-TIMEZONE', zone],
      // How often clients should poll (RFC 7986, and its Outlook/Apple forerunner).
      ['REFRESH-INTERVAL', 'PT1H', { VALUE: 'DURATION' }],
      ['X-PUBLISHED-TTL', 'PT1H'],
    ],
    [...timezones, ...templates.map((t) => templateEvent(t, zone)), ...tasks.map(taskEvent)],
  );
  const body = serialize(lines);
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}
