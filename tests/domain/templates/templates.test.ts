import { describe, expect } from 'vitest';
import type { Database } from '../../../db/index.js';
import type { DomainError } from '../../../src/core/errors.js';
import { createTemplate, type CreateTemplateInput } from '../../../src/domain/templates/create-template.js';
import { generateTemplateInstance, getTemplate } from '../../../src/domain/templates/templates.js';
import { domainTest as test, newUser } from '../../helpers/domain-tx.js';

// Recurring templates (FR-015..FR-018) on the domain: the first instance at the first occurrence,
// wall-clock times across daylight saving, COUNT from the original start, the rules and starts
// refused. tests/templates/recurrence.test.ts covers the rule parser itself (property-based);
// tests/templates/templates.test.ts keeps the HTTP mapping, generation by the worker and the races.

type User = Awaited<ReturnType<typeof newUser>>;
const DAY = 86_400_000;
const tomorrowNine = () => {
  const d = new Date(Date.now() + DAY);
  d.setUTCHours(9, 0, 0, 0);
  return d;
};
const refusal = (p: Promise<unknown>): Promise<DomainError> =>
  p.then(
    () => expect.fail('expected a refusal'),
    (e: DomainError) => e,
  );
const fields = (e: DomainError) => (e.details ?? []).map((d) => d.field);
const create = (db: Database, u: User, input: Partial<CreateTemplateInput>) => createTemplate(db, u.actor, { title: 'Series', rrule: 'FREQ=DAILY', ...input });
const instances = (db: Database, templateId: string) => db.selectFrom('task_instances').selectAll().where('template_id', '=', templateId).orderBy('due_date').execute();
const nothingCreated = async (db: Database, userId: string) => {
  expect(await db.selectFrom('task_templates').select('id').where('user_id', '=', userId).execute()).toEqual([]);
  expect(await db.selectFrom('task_instances').select('id').where('user_id', '=', userId).execute()).toEqual([]);
};

describe('createTemplate', () => {
  test('creates the template and its first instance at the first occurrence, with next_due after it', async ({ db }) => {
    const u = await newUser(db);
    const start = tomorrowNine();
    const tpl = await create(db, u, { title: ' Stretch ', description: 'Ten minutes', priority: 'low', estimated_duration: 10, starts_at: start.toISOString() });
    expect(tpl).toMatchObject({ title: 'Stretch', rrule: 'FREQ=DAILY', rrule_description: 'every day', active: true, next_due: new Date(start.getTime() + DAY).toISOString() });
    const [first, ...rest] = await instances(db, tpl.id);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ title: 'Stretch', description: 'Ten minutes', priority: 'low', estimated_duration: 10, due_date: start, version: 1, completed: false });
  });

  test('keeps the wall-clock time of the start in the user’s time zone across daylight saving', async ({ db }) => {
    const u = await newUser(db);
    await db.updateTable('users').set({ timezone: 'Europe/Berlin' }).where('id', '=', u.id).execute();
    // Next year's Monday before the last Sunday of March (when Berlin's summer time starts), 09:00 CET.
    const year = new Date().getUTCFullYear() + 1;
    const lastSunday = new Date(Date.UTC(year, 2, 31));
    lastSunday.setUTCDate(31 - lastSunday.getUTCDay());
    const monday = new Date(lastSunday.getTime() - 6 * DAY).toISOString().slice(0, 10);
    const followingMonday = new Date(lastSunday.getTime() + DAY).toISOString().slice(0, 10);
    const tpl = await create(db, u, { rrule: 'FREQ=WEEKLY;BYDAY=MO', starts_at: `${monday}T09:00:00+01:00` });
    expect((await instances(db, tpl.id))[0]!.due_date!.toISOString()).toBe(`${monday}T08:00:00.000Z`);
    expect(tpl.next_due).toBe(`${followingMonday}T07:00:00.000Z`);
    expect(tpl.rrule_description).toBe('every week on Monday');
  });

  test('starts from now when the start lies in the past, and honours COUNT from the original start', async ({ db }) => {
    const u = await newUser(db);
    const start = new Date(Date.now() - 10 * DAY);
    start.setUTCHours(6, 0, 0, 0);
    const tpl = await create(db, u, { rrule: 'FREQ=DAILY;COUNT=12', starts_at: start.toISOString() });
    const first = (await instances(db, tpl.id))[0]!;
    expect(first.due_date!.getTime()).toBeGreaterThanOrEqual(Date.now() - 60_000);
    expect(first.due_date!.getTime()).toBeLessThanOrEqual(Date.now() + DAY);
    // 12 occurrences from the start: the last is start + 11 days.
    let next = tpl.next_due;
    for (let i = 0; next && i < 12; i++) {
      expect(Date.parse(next)).toBeLessThanOrEqual(start.getTime() + 11 * DAY);
      await generateTemplateInstance(db, u.actor, tpl.id);
      next = (await getTemplate(db, u.id, tpl.id)).next_due;
    }
    expect(next).toBeNull();
    expect((await refusal(generateTemplateInstance(db, u.actor, tpl.id))).code).toBe('CONFLICT');
  });

  test.for([
    'FREQ=FORTNIGHTLY',
    'FREQ=HOURLY',
    'FOO=1',
    'FREQ=DAILY;COUNT=abc',
    'FREQ=WEEKLY;BYDAY=XX',
    'FREQ=DAILY;COUNT=3;UNTIL=20300101T000000Z',
    'FREQ=DAILY;UNTIL=20200101T000000Z',
    'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30',
    'INTERVAL=2',
    'FREQ=MONTHLY;BYDAY=MO,1TH',
    'FREQ=DAILY;INTERVAL=2;BYDAY=MO',
  ])('refuses the rule %s naming body.rrule and creates nothing', async (rrule, { db }) => {
    const u = await newUser(db);
    const e = await refusal(create(db, u, { rrule }));
    expect(e.code).toBe('VALIDATION_ERROR');
    expect(fields(e)).toContain('body.rrule');
    await nothingCreated(db, u.id);
  });

  test('refuses a start more than a year ago or more than ten years ahead', async ({ db }) => {
    const u = await newUser(db);
    for (const days of [-400, 3700]) expect(fields(await refusal(create(db, u, { starts_at: new Date(Date.now() + days * DAY).toISOString() })))).toEqual(['body.starts_at']);
    await nothingCreated(db, u.id);
  });

  test('refuses a description over the tier limit, and a first instance past the active-task limit, creating nothing', async ({ db }) => {
    const u = await newUser(db);
    expect(fields(await refusal(create(db, u, { description: 'd'.repeat(1001) })))).toEqual(['body.description']);
    await nothingCreated(db, u.id);
    await db
      .insertInto('task_instances')
      .values(Array.from({ length: 50 }, (_, i) => ({ user_id: u.id, title: `Seeded ${i}` })))
      .execute();
    expect(await refusal(create(db, u, {}))).toMatchObject({ code: 'LIMIT_EXCEEDED', extras: { limit: 50 } });
    expect(await db.selectFrom('task_templates').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
  });
});
