import { notYet } from '../http/not-implemented.js';

// Issue #5: these operations are specified in openapi.yaml and answer 501 until built.

export const listAchievements = notYet('listAchievements', 5);
export const getMyAchievements = notYet('getMyAchievements', 5);
