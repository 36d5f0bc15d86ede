import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { createNotification } from '../notifications/create-notification.js';
import { allDefinitions, presentUnlock, unlockMessage, type AchievementUnlock } from './definitions.js';

const unlockReached = compileOnce((v: { userId: string }) =>
  shapeBuilder
    .insertInto('user_achievements')
    .columns(['user_id', 'achievement_id'])
    .expression((eb) =>
      eb
        .selectFrom('achievement_definitions as d')
        .innerJoin('user_achievement_states as s', (join) => join.on('s.user_id', '=', v.userId))
        .select([sql<string>`${v.userId}::uuid`.as('user_id'), 'd.id'])
        .where(
          sql<boolean>`case d.category
            when 'tasks' then s.lifetime_tasks_completed
            when 'streaks' then s.longest_streak
            when 'focus' then s.focus_completions
            when 'notes' then s.notes_converted
          end >= d.threshold`,
        ),
    )
    .onConflict((oc) => oc.columns(['user_id', 'achievement_id']).doNothing())
    .returning('achievement_id'),
);

/**
 * Unlocks every achievement whose counter has reached its threshold and that the user has not
 * unlocked yet (FR-044: unlocks are permanent, so this only ever adds). One insert decides, so
 * concurrent checks cannot unlock twice. Each new unlock gets an `achievement` notification (also
 * pushed) and an activity entry, in the caller's transaction.
 */
export async function unlockReachedAchievements(trx: Executor, userId: string, actor: Pick<Actor, 'requestId'>): Promise<AchievementUnlock[]> {
  const inserted = (await trx.executeQuery(unlockReached({ userId }))).rows;
  if (inserted.length === 0) return [];

  const ids = new Set(inserted.map((r) => r.achievement_id));
  const unlocked = (await allDefinitions(trx)).filter((d) => ids.has(d.id));
  for (const d of unlocked) {
    await createNotification(trx, {
      userId,
      type: 'achievement',
      title: `Achievement unlocked: ${d.name}`,
      body: unlockMessage(d),
      actionUrl: '/achievements',
      push: true,
    });
    await recordActivity(trx, {
      userId,
      entityType: 'achievement',
      entityId: userId,
      action: 'achievement_unlocked',
      source: 'system',
      requestId: actor.requestId,
      extra: { achievement_id: d.id, perk_type: d.perk_type, perk_value: d.perk_value },
    });
  }
  return unlocked.map(presentUnlock);
}
