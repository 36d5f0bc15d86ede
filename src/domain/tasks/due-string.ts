import * as chrono from 'chrono-node';
import type { Executor } from '../../../db/index.js';
import { invalidField } from '../../core/errors.js';
import { toFloating } from '../templates/recurrence.js';
import { userZone } from '../templates/queries.js';
import { wallClockToInstant } from '../zones.js';
import { parseInstant } from './rules.js';

// Natural-language due dates ("tomorrow 5pm", "next friday", "in 3 days"), read with chrono-node
// (English) in the user's profile time zone, for task creation, task edits and the AI actions that
// go through them.

/** The time of day a due string that names only a date gets, on the user's wall clock. */
export const DEFAULT_DUE_TIME = { hour: 9, minute: 0 } as const;

/** chrono's hours for parts of the day: tonight 22:00, evening 20:00, afternoon 15:00, morning 06:00. */
const PARTS_OF_DAY = ['casualReference/tonight', 'casualReference/evening', 'casualReference/afternoon', 'casualReference/morning'];

/** Words that may stand around the date ("by friday", "due tomorrow at 5pm"); anything else is refused. */
const FILLER = /^(?:by|on|at|due|before|until|till|the|[\s,.;:!-])*$/i;
const unparseable = (field: string, why: string) => invalidField(field, `cannot be read as a date: ${why} (try "tomorrow 5pm", "next friday" or "in 3 days")`);

/**
 * The instant `text` names, read on `zone`'s wall clock at `now`:
 * * a date without a time of day gets DEFAULT_DUE_TIME ("next friday" → Friday 09:00 in the zone);
 *   a part of the day keeps chrono's hour for it ("tonight" 22:00, "tomorrow morning" 06:00);
 * * a time without a date is the next such time ("9am" after 9 am → tomorrow 9 am), a weekday
 *   the next such day;
 * * an elapsed time ("in 3 hours", "in 90 minutes", "now") counts real time from `now`, across a
 *   daylight-saving change too; whole days ("in 3 days") move the calendar date;
 * * a time zone in the text ("5pm UTC", "17:00 EST") overrides the user's;
 * * a wall clock skipped or repeated by a daylight-saving change is read as `wallClockToInstant` says.
 * Throws a 400 naming `field` when the text is not one date (nothing found, two dates, other words).
 */
export function resolveDueString({ text, zone, now, field = 'body.due_string' }: { text: string; zone: string; now: Date; field?: string }): Date {
  const reference = toFloating(now, zone);
  let results: chrono.ParsedResult[];
  try {
    results = chrono.parse(text, { instant: reference, timezone: 0 }, { forwardDate: true });
  } catch {
    results = [];
  }
  if (results.length === 0) throw unparseable(field, 'no date found');
  if (results.length > 1) throw unparseable(field, 'it names more than one date');
  const result = results[0]!;
  const rest = text.slice(0, result.index) + text.slice(result.index + result.text.length);
  if (!FILLER.test(rest)) throw unparseable(field, `"${rest.trim().slice(0, 40)}" is not part of a date`);

  const start = result.start;
  const parsed = start.date();
  if (Number.isNaN(parsed.getTime())) throw unparseable(field, 'no date found');
  const tags = result.tags();
  let due: Date;
  if (tags.has('result/relativeDateAndTime') || tags.has('casualReference/now')) {
    due = new Date(now.getTime() + (parsed.getTime() - reference.getTime()));
  } else {
    // A part of the day ("tonight", "tomorrow morning") keeps the hour chrono gives it.
    const timed = start.isCertain('hour') || PARTS_OF_DAY.some((tag) => tags.has(tag));
    const wall = new Date(
      Date.UTC(
        start.get('year')!,
        start.get('month')! - 1,
        start.get('day')!,
        timed ? start.get('hour')! : DEFAULT_DUE_TIME.hour,
        timed ? (start.get('minute') ?? 0) : DEFAULT_DUE_TIME.minute,
        timed && start.isCertain('second') ? (start.get('second') ?? 0) : 0,
      ),
    );
    const offset = start.isCertain('timezoneOffset') ? start.get('timezoneOffset') : null;
    due = offset === null ? wallClockToInstant(wall, zone) : new Date(wall.getTime() - offset * 60_000);
  }
  const year = due.getUTCFullYear();
  if (Number.isNaN(due.getTime()) || year < 1970 || year > 9999) throw unparseable(field, 'the date is out of range');
  return due;
}

export interface DueInput {
  due_date?: string | null;
  due_string?: string;
}

export interface RequestedDue {
  /** `undefined`: the request names no due date; `null`: it clears it. */
  due: Date | null | undefined;
  /** The field the due date came from, for the errors of later checks (the 30-day window). */
  field: 'body.due_date' | 'body.due_string';
}

/**
 * The due date a create or edit asks for, from `due_date` or from `due_string` read in the user's
 * zone (one query, only for a due string). Sending both is a 400. The 30-day window (FR-013) is the
 * caller's to check with `field`, since an edit measures it from the task's creation.
 */
export async function requestedDue(db: Executor, { userId, input, now }: { userId: string; input: DueInput; now: Date }): Promise<RequestedDue> {
  if (input.due_string !== undefined && input.due_date !== undefined) {
    throw invalidField('body.due_string', 'cannot be sent together with due_date; send one of them');
  }
  if (input.due_string !== undefined) {
    return { due: resolveDueString({ text: input.due_string, zone: await userZone(db, userId), now }), field: 'body.due_string' };
  }
  const due = input.due_date === undefined ? undefined : input.due_date === null ? null : parseInstant(input.due_date, 'body.due_date');
  return { due, field: 'body.due_date' };
}
