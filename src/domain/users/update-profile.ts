import type { Database } from '../../../db/index.js';
import type { UserRow } from '../../../db/schema/index.js';
import { accountGone, invalidField } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import { updateUserRow } from './queries.js';

export function isValidTimeZone(zone: string): boolean {
  try {
    // Intl knows the IANA database; it throws RangeError for unknown zones.
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    // Intl also accepts raw offsets ("+01:00"); a profile needs a named zone that follows DST rules.
    return /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone);
  } catch {
    return false;
  }
}

export async function updateProfile(
  db: Database,
  { userId, input, ctx }: { userId: string; input: { name?: string; timezone?: string }; ctx: { requestId: string } },
): Promise<UserRow> {
  const name = input.name?.trim();
  if (input.name !== undefined && !name) throw invalidField('body.name', 'must not be blank');
  if (input.timezone !== undefined && !isValidTimeZone(input.timezone)) {
    throw invalidField('body.timezone', 'must be an IANA time zone such as Europe/Berlin');
  }
  return db.transaction().execute(async (trx) => {
    // Locked: an account deletion running meanwhile is waited for, then there is no user (401).
    const user = await trx.selectFrom('users').select('id').where('id', '=', userId).forNoKeyUpdate().executeTakeFirst();
    if (!user) throw accountGone();
    const updated = await updateUserRow(trx, userId, {
      ...(name !== undefined ? { name, name_customized: true } : {}),
      ...(input.timezone !== undefined ? { timezone: input.timezone } : {}),
    });
    await recordActivity(trx, {
      userId,
      entityType: 'user',
      entityId: userId,
      action: 'user_updated',
      source: 'user',
      requestId: ctx.requestId,
      extra: { fields: Object.keys(input) },
    });
    return updated;
  });
}
