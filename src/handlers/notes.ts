import { userActor } from '../domain/actor.js';
import { convertNoteToTask } from '../domain/ai/convert-note.js';
import { createNote as createNoteUseCase } from '../domain/notes/create-note.js';
import { deleteNote as deleteNoteUseCase } from '../domain/notes/delete-note.js';
import { listNotes as listNotesUseCase } from '../domain/notes/list-notes.js';
import { presentNote } from '../domain/notes/present.js';
import { ownedNote } from '../domain/notes/queries.js';
import { recoverNote as recoverNoteUseCase } from '../domain/notes/recover-note.js';
import { updateNote as updateNoteUseCase } from '../domain/notes/update-note.js';
import { iso } from '../domain/time.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

export const listNotes: Handler<'listNotes'> = async (req, ctx) => ({
  status: 200,
  body: await listNotesUseCase(ctx.deps.db, { userId: caller(ctx).userId, filter: { archived: req.query.archived }, page: pageParams(req.query) }),
});

export const createNote: Handler<'createNote'> = async (req, ctx) => ({
  status: 201,
  body: { data: presentNote(await createNoteUseCase(ctx.deps.db, userActor(ctx), req.body)) },
});

export const getNote: Handler<'getNote'> = async (req, ctx) => ({
  status: 200,
  body: { data: presentNote(await ownedNote(ctx.deps.db, { userId: caller(ctx).userId, noteId: req.params.note_id })) },
});

export const updateNote: Handler<'updateNote'> = async (req, ctx) => ({
  status: 200,
  body: { data: presentNote(await updateNoteUseCase(ctx.deps.db, { actor: userActor(ctx), noteId: req.params.note_id, input: req.body })) },
});

export const deleteNote: Handler<'deleteNote'> = async (req, ctx) => {
  const t = await deleteNoteUseCase(ctx.deps.db, userActor(ctx), req.params.note_id);
  return { status: 200, body: { data: { tombstone_id: t.tombstoneId, recoverable_until: iso(t.recoverableUntil) } } };
};

export const recoverNote: Handler<'recoverNote'> = async (req, ctx) => ({
  status: 200,
  body: { data: presentNote(await recoverNoteUseCase(ctx.deps.db, userActor(ctx), req.params.tombstone_id)) },
});

export const convertNote: Handler<'convertNote'> = async (req, ctx) => {
  const { conversion, unlockedAchievements } = await convertNoteToTask(ctx.deps, { caller: { actor: userActor(ctx), sessionId: caller(ctx).tokenId }, noteId: req.params.note_id });
  return { status: 200, body: { data: conversion, ...(unlockedAchievements.length ? { unlocked_achievements: unlockedAchievements } : {}) } };
};
