import { DomainError, invalidField } from '../../core/errors.js';
import type { EffectiveLimits } from '../limits/effective-limits.js';

/** FR-013: a due date lies at most 30 days after the task's creation. */
export const MAX_DUE_DAYS = 30;
const DAY_MS = 86_400_000;

/** Titles are trimmed; the contract's pattern already refuses one made only of whitespace. */
export function cleanTitle(title: string, field = 'body.title'): string {
  const t = title.trim();
  if (!t) throw invalidField(field, 'must not be blank');
  return t;
}

export function checkDescription(description: string, limits: EffectiveLimits, field = 'body.description'): string {
  if ([...description].length > limits.maxDescriptionLength) {
    throw invalidField(field, `must NOT have more than ${limits.maxDescriptionLength} characters on the ${limits.tier} tier`);
  }
  return description;
}

/** An instant from the contract's InputTimestamp (always carries a zone; validated before). */
export function parseInstant(value: string, field: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw invalidField(field, 'must be an ISO 8601 date-time with a zone');
  return d;
}

export function checkDueDate(due: Date, createdAt: Date, field = 'body.due_date'): Date {
  if (due.getTime() > createdAt.getTime() + MAX_DUE_DAYS * DAY_MS) {
    throw invalidField(field, `must be at most ${MAX_DUE_DAYS} days after the task's creation`);
  }
  return due;
}

export const versionConflict = (expected: number, current: number) =>
  new DomainError('CONFLICT', `The task has changed since version ${expected}; reload it and retry`, { extras: { current_version: current } });

export const preconditionFailed = (current: number) =>
  new DomainError('PRECONDITION_FAILED', "If-Match does not match the task's current version", { extras: { current_version: current } });

/**
 * The versions a request names must equal the task's: `If-Match` first (412), then the body's
 * `version` (409 with `current_version`).
 */
export function checkVersions(current: number, bodyVersion: number | undefined, ifMatch: number | undefined): void {
  if (ifMatch !== undefined && ifMatch !== current) throw preconditionFailed(current);
  if (bodyVersion !== undefined && bodyVersion !== current) throw versionConflict(bodyVersion, current);
}

export const taskLimitExceeded = (limit: number) =>
  new DomainError('LIMIT_EXCEEDED', `You have reached your limit of ${limit} active tasks`, { extras: { limit } });
