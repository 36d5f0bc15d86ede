import type { AccountTables } from './accounts.js';
import type { BillingTables } from './billing.js';
import type { CalendarTables } from './calendar.js';
import type { NotesAiTables } from './notes.js';
import type { PlatformTables } from './platform.js';
import type { RecoveryTables } from './recovery.js';
import type { SearchTables } from './search.js';
import type { SyncTables } from './sync.js';
import type { TaskTables } from './tasks.js';

// The database as Kysely sees it: one file per migration area, kept by hand beside the SQL in
// db/migrations. A migration that adds or changes a column changes its file in the same commit.

export interface DB extends AccountTables, PlatformTables, RecoveryTables, TaskTables, BillingTables, CalendarTables, NotesAiTables, SyncTables, SearchTables {}

export * from './accounts.js';
export * from './billing.js';
export * from './calendar.js';
export * from './columns.js';
export * from './notes.js';
export * from './platform.js';
export * from './recovery.js';
export * from './search.js';
export * from './sync.js';
export * from './tasks.js';
