import { notYet } from '../http/not-implemented.js';

// Issue #4: these operations are specified in openapi.yaml and answer 501 until built.

export const listNotes = notYet('listNotes', 4);
export const createNote = notYet('createNote', 4);
export const getNote = notYet('getNote', 4);
export const updateNote = notYet('updateNote', 4);
export const deleteNote = notYet('deleteNote', 4);
export const recoverNote = notYet('recoverNote', 4);
export const convertNote = notYet('convertNote', 4);
