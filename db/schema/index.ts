import type { PlatformTables } from './platform.js';
import type { RecoveryTables } from './recovery.js';

// The database as Kysely sees it: one file per migration area, kept by hand beside the SQL in
// db/migrations. A migration that adds or changes a column changes its file in the same commit.

export interface DB extends PlatformTables, RecoveryTables {}

export * from './columns.js';
export * from './platform.js';
export * from './recovery.js';
