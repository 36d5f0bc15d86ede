import type { ColumnType } from 'kysely';

/** timestamptz: read as Date; written as Date or ISO string; optional on insert when it has a default. */
export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** created_at: set once by its default. */
export type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** jsonb: read as T; written as T or its JSON text. */
export type Json<T = unknown> = ColumnType<T, string | T, string | T>;
