import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import type { AchievementDefinitionRow } from '../../../db/schema/index.js';
import { paginationOf, type PageParams } from '../../core/pagination.js';

type AchievementDefinition = components['schemas']['AchievementDefinition'];
export type AchievementUnlock = components['schemas']['AchievementUnlock'];

/** The seven definitions, in catalogue order (tasks, streaks, focus, notes; then threshold). */
export const allDefinitions = (db: Executor): Promise<AchievementDefinitionRow[]> =>
  db.selectFrom('achievement_definitions').selectAll().orderBy('sort_order').execute();

export const presentDefinition = (d: AchievementDefinitionRow): AchievementDefinition => ({
  id: d.id,
  name: d.name,
  description: d.description,
  message: d.description,
  category: d.category,
  threshold: d.threshold,
  perk_type: d.perk_type,
  perk_value: d.perk_value,
});

export const presentUnlock = (d: AchievementDefinitionRow): AchievementUnlock => ({
  // The seed's names (US9-AS4) beside the frontend's.
  id: d.id,
  name: d.name,
  description: d.description,
  achievement_id: d.id,
  achievement_name: d.name,
  perk: d.perk_type && d.perk_value ? { type: d.perk_type, value: d.perk_value } : null,
});

/** `GET /achievements`: a page of the catalogue. */
export async function listAchievementDefinitions(db: Executor, page: PageParams) {
  const all = await allDefinitions(db);
  return { data: all.slice(page.offset, page.offset + page.limit).map(presentDefinition), pagination: paginationOf(page, all.length) };
}

/** What an unlock notification says: what was done, and what the perk now allows. */
export function unlockMessage(d: AchievementDefinitionRow): string {
  const done = {
    tasks: `You completed ${d.threshold} tasks.`,
    streaks: `You completed tasks ${d.threshold} days in a row.`,
    focus: `You completed ${d.threshold} tasks with focus time of at least half their estimate.`,
    notes: `You converted ${d.threshold} notes into tasks.`,
  }[d.category];
  const perk =
    d.perk_type === 'max_tasks'
      ? ` You can now keep ${d.perk_value} more active tasks.`
      : d.perk_type === 'max_notes'
        ? ` You can now keep ${d.perk_value} more notes.`
        : d.perk_type === 'daily_credits'
          ? ` You now get ${d.perk_value} more AI credits every day on Pro.`
          : '';
  return `${done}${perk}`;
}
