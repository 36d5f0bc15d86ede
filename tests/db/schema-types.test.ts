import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENERATED_FILE, generateSchemaTypes, parseUnionCheck } from '../../db/codegen.js';
import { createDatabase, type DatabaseHandle } from '../../db/index.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { createTestDatabase } from '../helpers/app.js';

// The Kysely types are generated from the migrated database (docs/decisions/0002); CI runs
// `npm run db:codegen:check`, and this test catches the same drift inside `npm test`.

describe('db/schema/generated.ts', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase();
    handle = createDatabase(database.url, { max: 1 });
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  it('is what kysely-codegen makes of the migrated database (else: npm run db:codegen)', async () => {
    const committed = fs.readFileSync(path.join(PROJECT_ROOT, GENERATED_FILE), 'utf8');
    expect(await generateSchemaTypes(handle.db)).toBe(committed);
  });

  it("types every CHECK-listed text column as the CHECK's values", async () => {
    const committed = fs.readFileSync(path.join(PROJECT_ROOT, GENERATED_FILE), 'utf8');
    expect(committed).toMatch(/^ {2}kind: "kickstart" \| "daily" \| "subscription" \| "purchased";$/m);
    expect(committed).toMatch(/^ {2}priority: Generated<"low" \| "medium" \| "high">;$/m);
    expect(committed).toMatch(/^ {2}end_reason: "end_stream" \| .* \| "server_shutdown" \| null;$/m);
  });
});

describe('parseUnionCheck', () => {
  it('reads the values of a list or a single literal, and nothing else', () => {
    expect(parseUnionCheck("CHECK ((tier = ANY (ARRAY['free'::text, 'pro'::text])))", 'tier')).toEqual(['free', 'pro']);
    expect(parseUnionCheck("CHECK ((source = 'user_request'::text))", 'source')).toEqual(['user_request']);
    expect(parseUnionCheck("CHECK ((s = ANY (ARRAY['it''s'::text, 'b'::text])))", 's')).toEqual(["it's", 'b']);
    expect(parseUnionCheck("CHECK ((currency ~ '^[A-Z]{3}$'::text))", 'currency')).toBeNull();
    expect(parseUnionCheck('CHECK (((char_length(name) >= 1) AND (char_length(name) <= 100)))', 'name')).toBeNull();
    expect(parseUnionCheck("CHECK ((kind = ANY (ARRAY['a'::text]) OR kind IS NULL))", 'kind')).toBeNull();
  });
});
