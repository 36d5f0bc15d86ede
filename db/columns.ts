/**
 * Every column of a row type, by name, for statements that must not read `*`: a statement sent as a
 * named prepared statement (db/index.ts) keeps its result type for the connection's life, so a
 * column added by a migration would break a `*` under a running process. The type checker holds the
 * list complete: a column added to the row but not to the list fails to compile, naming it.
 *
 *   export const TASK_COLUMNS = everyColumn<TaskRow>()(['id', 'user_id', …]);
 */
export const everyColumn =
  <Row>() =>
  <const C extends readonly (keyof Row & string)[]>(columns: C & ([Exclude<keyof Row, C[number]>] extends [never] ? unknown : { missingColumns: Exclude<keyof Row, C[number]> })): C =>
    columns;
