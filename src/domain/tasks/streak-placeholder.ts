/**
 * The user's current streak in consecutive UTC days with a completion, for force-complete's
 * `streak`, read in the caller's transaction after `task.completed` was handled. Issue #5 replaced
 * the placeholder: the streak lives with the achievements; this module keeps the import path.
 */
export { currentStreak } from '../achievements/streaks.js';
