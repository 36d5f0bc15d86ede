// Calendar arithmetic in UTC, the time zone of streaks, daily credits and billing periods.

const DAY_MS = 86_400_000;

/** 00:00 UTC of the day `d` falls on. */
export const startOfUtcDay = (d: Date): Date => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));

/** 00:00 UTC on the 1st of the month `d` falls in. */
export const startOfUtcMonth = (d: Date): Date => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));

export const addDays = (d: Date, days: number): Date => new Date(d.getTime() + days * DAY_MS);
export const addHours = (d: Date, hours: number): Date => new Date(d.getTime() + hours * 3_600_000);

/** The same instant `months` calendar months later; the 31st becomes the month's last day when it has none. */
export function addUtcMonths(d: Date, months: number): Date {
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  return target;
}

/** `YYYY-MM-DD` of the UTC day. */
export const utcDayKey = (d: Date): string => d.toISOString().slice(0, 10);

/** Whole days from day `a` to day `b` (`YYYY-MM-DD` each). */
export const daysBetween = (a: string, b: string): number => Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / DAY_MS);
