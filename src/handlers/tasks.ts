import { notYet } from '../http/not-implemented.js';

// Issue #3: these operations are specified in openapi.yaml and answer 501 until built.

export const listTasks = notYet('listTasks', 3);
export const createTask = notYet('createTask', 3);
export const getTask = notYet('getTask', 3);
export const updateTask = notYet('updateTask', 3);
export const forceCompleteTask = notYet('forceCompleteTask', 3);
export const deleteTask = notYet('deleteTask', 3);
export const listTombstones = notYet('listTombstones', 3);
export const recoverTask = notYet('recoverTask', 3);
