import { notYet } from '../http/not-implemented.js';

// Issue #3: these operations are specified in openapi.yaml and answer 501 until built.

export const createTaskReminder = notYet('createTaskReminder', 3);
export const createReminder = notYet('createReminder', 3);
export const listTaskReminders = notYet('listTaskReminders', 3);
export const listReminders = notYet('listReminders', 3);
export const getReminder = notYet('getReminder', 3);
export const updateReminder = notYet('updateReminder', 3);
export const deleteReminder = notYet('deleteReminder', 3);
