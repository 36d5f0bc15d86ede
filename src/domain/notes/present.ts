import type { components } from '../../../codegen/api.js';
import type { NoteRow } from '../../../db/schema/index.js';
import { iso, isoOrNull } from '../time.js';

type Note = components['schemas']['Note'];

export const presentNote = (n: NoteRow): Note => ({
  id: n.id,
  user_id: n.user_id,
  content: n.content,
  archived: n.archived,
  voice_url: n.voice_url,
  voice_duration_seconds: n.voice_duration_seconds,
  transcription_status: n.transcription_status,
  created_at: iso(n.created_at),
  updated_at: iso(n.updated_at),
});

/** What a note's tombstone keeps: every column, timestamps as ISO strings. */
export type NoteSnapshot = Omit<NoteRow, 'created_at' | 'updated_at' | 'converted_at'> & {
  created_at: string;
  updated_at: string;
  converted_at: string | null;
};

export const noteSnapshot = (n: NoteRow): NoteSnapshot => ({
  ...n,
  created_at: iso(n.created_at),
  updated_at: iso(n.updated_at),
  converted_at: isoOrNull(n.converted_at),
});

/** The tombstone's title: the note's first line. */
export const notePreview = (content: string): string => (content.split('\n')[0] ?? '').trim().slice(0, 80) || content.slice(0, 80);
