import { notYet } from '../http/not-implemented.js';

// Issue #3: these operations are specified in openapi.yaml and answer 501 until built.

export const listSubtasks = notYet('listSubtasks', 3);
export const createSubtask = notYet('createSubtask', 3);
export const reorderSubtasks = notYet('reorderSubtasks', 3);
export const updateSubtask = notYet('updateSubtask', 3);
export const replaceSubtask = notYet('replaceSubtask', 3);
export const deleteSubtask = notYet('deleteSubtask', 3);
