const DAY_MS = 86_400_000;
/** 9999-12-31T23:59:59.999Z: the last instant with a four-digit year. */
const LAST_4_DIGIT_MS = 253_402_300_799_999;
const digit = (n: number) => 48 + n;

/**
 * `d.toISOString()` for instants of 1970–9999 (all the API has), computed from the time value
 * (days to a civil date as in Howard Hinnant's `civil_from_days`) and built as one flat string:
 * about twice as fast as the builtin, and faster to serialize than a concatenation. The same text
 * for every such instant (tests/domain/time.test.ts); any other Date goes to toISOString (which
 * throws for an invalid one).
 */
function isoString(d: Date): string {
  const t = d.getTime();
  if (!(t >= 0 && t <= LAST_4_DIGIT_MS)) return d.toISOString();
  const msOfDay = t % DAY_MS;
  const z = (t - msOfDay) / DAY_MS + 719_468; // days since 0000-03-01
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const s = Math.floor(msOfDay / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  const sec = s % 60;
  const ms = msOfDay % 1000;
  return String.fromCharCode(
    digit(Math.floor(year / 1000)), digit(Math.floor(year / 100) % 10), digit(Math.floor(year / 10) % 10), digit(year % 10), 45,
    digit(Math.floor(month / 10)), digit(month % 10), 45, digit(Math.floor(day / 10)), digit(day % 10), 84,
    digit(Math.floor(h / 10)), digit(h % 10), 58, digit(Math.floor(m / 10)), digit(m % 10), 58, digit(Math.floor(sec / 10)), digit(sec % 10), 46,
    digit(Math.floor(ms / 100)), digit(Math.floor(ms / 10) % 10), digit(ms % 10), 90,
  );
}

/** API timestamps: always UTC with milliseconds and Z. */
export const iso = (d: Date): string => isoString(d);
export const isoOrNull = (d: Date | null | undefined): string | null => (d ? isoString(d) : null);
