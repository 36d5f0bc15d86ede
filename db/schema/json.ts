import type { ColumnType } from 'kysely';
import type { CreditKind } from './index.js';

// The shapes of the jsonb columns, which the database cannot describe; db/codegen.ts
// (JSON_COLUMN_SHAPES) names the column each one types in db/schema/generated.ts.

/** jsonb: read as T; written as T or its JSON text. */
export type JsonColumn<T = unknown> = ColumnType<T, string | T, string | T>;

/** One lot a ledger entry drew from or gave back to (ai_credit_ledger.allocations). */
export interface CreditAllocation {
  lot_id: string;
  kind: CreditKind;
  amount: number;
}
