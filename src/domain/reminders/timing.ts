import type { ReminderType } from '../../../db/schema/index.js';
import { invalidField } from '../../core/errors.js';

/** SPEC §5: `before` is stored ≤ 0 and `after` ≥ 0, whichever sign the client sent. */
export const signedOffset = (type: 'before' | 'after', minutes: number): number => (type === 'before' ? -Math.abs(minutes) : Math.abs(minutes)) || 0;

/** When a relative reminder fires: the task's due date plus the signed offset (400 without a due date). */
export function relativeTime(due: Date | null, offsetMinutes: number): Date {
  if (!due) throw invalidField('body.type', 'before and after reminders need a task with a due date');
  return new Date(due.getTime() + offsetMinutes * 60_000);
}

export const isRelative = (type: ReminderType): type is 'before' | 'after' => type !== 'absolute';
