import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDueString } from '../../src/domain/tasks/due-string.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { newTask } from './fixtures.js';

// `due_string` on task create and edit (and on confirmed AI actions): natural-language due dates read
// in the user's time zone. The resolver is a pure function of (text, zone, now), so the calendar
// edges (daylight-saving nights, a zone far from UTC) are pinned with fixed instants; the HTTP tests
// check the wiring, the rules shared with `due_date` and that a refusal changes nothing.

/** The wall clock of `instant` in `zone` as `YYYY-MM-DD HH:mm`. */
function wall(instant: Date, zone: string): string {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .formatToParts(instant)
      .map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

describe('resolveDueString (pure)', () => {
  // Friday 2026-03-27 15:30 in Berlin (CET, +01:00); clocks go forward on Sunday 2026-03-29 at 02:00.
  const berlinFriday = new Date('2026-03-27T14:30:00.000Z');
  const berlin = 'Europe/Berlin';

  it('reads times and dates on the user\'s wall clock', () => {
    expect(resolveDueString({ text: 'tomorrow 5pm', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-28T16:00:00.000Z');
    expect(resolveDueString({ text: 'next friday', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-04-03T07:00:00.000Z'); // 09:00 CEST
    expect(resolveDueString({ text: 'in 3 days', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-30T07:00:00.000Z'); // Monday 09:00 CEST
    expect(resolveDueString({ text: 'by friday', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-04-03T07:00:00.000Z');
    expect(resolveDueString({ text: 'Due tomorrow at 17:30.', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-28T16:30:00.000Z');
  });

  it('gives a date without a time 09:00 in the user\'s zone', () => {
    for (const text of ['tomorrow', 'next friday', '2026-04-01', 'in 2 weeks']) {
      expect(wall(resolveDueString({ text, zone: berlin, now: berlinFriday }), berlin), text).toMatch(/ 09:00$/);
    }
  });

  it('gives a part of the day its usual hour', () => {
    expect(wall(resolveDueString({ text: 'tonight', zone: berlin, now: berlinFriday }), berlin)).toBe('2026-03-27 22:00');
    expect(wall(resolveDueString({ text: 'tomorrow afternoon', zone: berlin, now: berlinFriday }), berlin)).toBe('2026-03-28 15:00');
    expect(wall(resolveDueString({ text: 'tomorrow morning', zone: berlin, now: berlinFriday }), berlin)).toBe('2026-03-28 06:00');
  });

  it('takes the next such time for a time without a date', () => {
    expect(resolveDueString({ text: '5pm', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-27T16:00:00.000Z'); // later today
    expect(resolveDueString({ text: '9am', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-28T08:00:00.000Z'); // already past: tomorrow
  });

  it('keeps the wall-clock time across a daylight-saving change (5 pm stays 5 pm)', () => {
    // Saturday 17:00 CET is 16:00Z, Monday 17:00 CEST is 15:00Z.
    expect(resolveDueString({ text: 'monday 5pm', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-30T15:00:00.000Z');
    // New York goes back on 2026-11-01: Saturday 17:00 EDT (-4), Monday 17:00 EST (-5).
    const ny = 'America/New_York';
    const friday = new Date('2026-10-30T16:00:00.000Z');
    expect(resolveDueString({ text: 'tomorrow 5pm', zone: ny, now: friday }).toISOString()).toBe('2026-10-31T21:00:00.000Z');
    expect(resolveDueString({ text: 'monday 5pm', zone: ny, now: friday }).toISOString()).toBe('2026-11-02T22:00:00.000Z');
  });

  it('moves a skipped wall-clock time forward by the gap, and takes the first of a repeated one', () => {
    // 02:30 does not exist in Berlin on 2026-03-29: read with CET (+01:00) it is 03:30 CEST.
    expect(resolveDueString({ text: 'sunday 2:30am', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(wall(resolveDueString({ text: 'sunday 2:30am', zone: berlin, now: berlinFriday }), berlin)).toBe('2026-03-29 03:30');
    // 02:30 occurs twice in Berlin on 2026-10-25: the first is CEST (+02:00).
    expect(resolveDueString({ text: 'sunday 2:30am', zone: berlin, now: new Date('2026-10-23T10:00:00Z') }).toISOString()).toBe('2026-10-25T00:30:00.000Z');
    // 01:30 occurs twice in New York on 2026-11-01: the first is EDT (-04:00).
    expect(resolveDueString({ text: 'sunday 1:30am', zone: 'America/New_York', now: new Date('2026-10-30T16:00:00Z') }).toISOString()).toBe('2026-11-01T05:30:00.000Z');
  });

  it('counts elapsed time in real time across the change', () => {
    // 01:30 CET on the night Berlin skips an hour: three hours later it is 05:30 CEST.
    const night = new Date('2026-03-29T00:30:00.000Z');
    expect(resolveDueString({ text: 'in 3 hours', zone: berlin, now: night }).toISOString()).toBe('2026-03-29T03:30:00.000Z');
    expect(wall(resolveDueString({ text: 'in 3 hours', zone: berlin, now: night }), berlin)).toBe('2026-03-29 05:30');
    expect(resolveDueString({ text: 'in 90 minutes', zone: berlin, now: night }).toISOString()).toBe('2026-03-29T02:00:00.000Z');
  });

  it('reads "tomorrow" on the user\'s calendar, not UTC\'s (a zone ahead of UTC)', () => {
    // 2026-01-10 23:30Z is already Sunday 2026-01-11 08:30 in Tokyo; tomorrow is Monday.
    const tokyo = 'Asia/Tokyo';
    const now = new Date('2026-01-10T23:30:00.000Z');
    expect(resolveDueString({ text: 'tomorrow 5pm', zone: tokyo, now }).toISOString()).toBe('2026-01-12T08:00:00.000Z');
    expect(resolveDueString({ text: 'tomorrow 5pm', zone: 'UTC', now }).toISOString()).toBe('2026-01-11T17:00:00.000Z');
    // A quarter-hour zone, and one behind UTC where it is still the day before.
    expect(wall(resolveDueString({ text: 'tomorrow 5pm', zone: 'Asia/Kathmandu', now }), 'Asia/Kathmandu')).toBe('2026-01-12 17:00');
    expect(wall(resolveDueString({ text: 'tomorrow 5pm', zone: 'America/Los_Angeles', now }), 'America/Los_Angeles')).toBe('2026-01-11 17:00');
  });

  it('lets a zone written in the text override the user\'s', () => {
    expect(resolveDueString({ text: 'tomorrow 5pm UTC', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-28T17:00:00.000Z');
    expect(resolveDueString({ text: 'tomorrow at 17:00 EST', zone: berlin, now: berlinFriday }).toISOString()).toBe('2026-03-28T22:00:00.000Z');
  });

  it('answers any text of up to 100 characters, in any zone, with an instant or a 400 — quickly', () => {
    const words = fc.constantFrom('tomorrow', 'next', 'friday', 'in', '3', 'days', 'at', '5pm', '2:30am', 'noon', 'UTC', 'EST', 'march', '31', 'by', 'or', 'weeks', 'ago', '-', ',', '9999', '0');
    const text = fc.oneof(fc.string({ maxLength: 100 }), fc.array(words, { maxLength: 12 }).map((w) => w.join(' ').slice(0, 100)));
    const zone = fc.constantFrom('UTC', berlin, 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham', 'Etc/GMT+12', 'Australia/Lord_Howe');
    const instant = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2090-01-01T00:00:00Z'), noInvalidDate: true });
    fc.assert(
      fc.property(text, zone, instant, (s, z, now) => {
        const started = performance.now();
        try {
          const due = resolveDueString({ text: s, zone: z, now });
          expect(Number.isNaN(due.getTime())).toBe(false);
        } catch (err) {
          expect(err).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'body.due_string' }] });
        }
        expect(performance.now() - started).toBeLessThan(250);
      }),
      { numRuns: 400 },
    );
  });

  it('refuses text that is not one date, naming the field', () => {
    for (const text of ['someday', 'buy milk tomorrow', 'friday or saturday', '!!!', 'tomorrow and then some']) {
      expect(() => resolveDueString({ text, zone: berlin, now: berlinFriday }), text).toThrow(expect.objectContaining({ code: 'VALIDATION_ERROR', details: [expect.objectContaining({ field: 'body.due_string' })] }));
    }
  });
});

let t: TestApp;
let tokyo: TestUser;
let utc: TestUser;

// The app starts after the pure tests (a describe's beforeAll), so no idle keep-alive connection
// from before them is reused just as the server closes it.
describe('through the API', () => {
  beforeAll(async () => {
    t = await startTestApp();
    [tokyo, utc] = await Promise.all([signUp(t), signUp(t)]);
    expect((await tokyo.api.patch('/users/me', { timezone: 'Asia/Tokyo' })).status).toBe(200);
  });
  afterAll(() => t?.close());

  const taskCount = async (userId: string) => Number((await t.db.selectFrom('task_instances').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()).n);

  describe('POST /tasks with due_string', () => {
    it('resolves the text in the user\'s time zone and answers it as due_date (UTC)', async () => {
      const before = new Date();
      const res = await tokyo.api.post('/tasks', { title: 'Submit the expense report', due_string: 'tomorrow 5pm' });
      expect(res.status, res.text).toBe(201);
      const due = res.body.data.due_date as string;
      expect(due).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(due).toBe(resolveDueString({ text: 'tomorrow 5pm', zone: 'Asia/Tokyo', now: before }).toISOString());
      expect(wall(new Date(due), 'Asia/Tokyo')).toMatch(/ 17:00$/);
      expect(res.body.data).not.toHaveProperty('due_string');
      // The same text for a UTC user is 17:00 on the UTC wall clock: another instant.
      const inUtc = await utc.api.post('/tasks', { title: 'Submit the expense report', due_string: 'tomorrow 5pm' });
      expect(wall(new Date(inUtc.body.data.due_date), 'UTC')).toMatch(/ 17:00$/);
      expect(inUtc.body.data.due_date).not.toBe(due);
    });

    it('gives a date without a time 09:00 on the user\'s wall clock', async () => {
      const res = await tokyo.api.post('/tasks', { title: 'Weekly review', due_string: 'next friday' });
      expect(res.status, res.text).toBe(201);
      expect(wall(new Date(res.body.data.due_date), 'Asia/Tokyo')).toMatch(/ 09:00$/);
      expect(new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Tokyo', weekday: 'long' }).format(new Date(res.body.data.due_date))).toBe('Friday');
    });

    it('refuses an unreadable text, both fields together, and a date more than 30 days ahead — creating nothing', async () => {
      const before = await taskCount(tokyo.id);
      const unreadable = await tokyo.api.post('/tasks', { title: 'x', due_string: 'when pigs fly' });
      expect(unreadable.status).toBe(400);
      expect(unreadable.body.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'body.due_string', message: expect.stringContaining('cannot be read as a date') }] });
      const both = await tokyo.api.post('/tasks', { title: 'x', due_string: 'tomorrow', due_date: new Date().toISOString() });
      expect(both.status).toBe(400);
      expect(both.body.error.details).toEqual([{ field: 'body.due_string', message: expect.stringContaining('together with due_date') }]);
      const far = await tokyo.api.post('/tasks', { title: 'x', due_string: 'in 40 days' });
      expect(far.status).toBe(400);
      expect(far.body.error.details).toEqual([{ field: 'body.due_string', message: "must be at most 30 days after the task's creation" }]);
      const blank = await tokyo.api.post('/tasks', { title: 'x', due_string: '   ' });
      expect(blank.status).toBe(400);
      expect(blank.body.error.details[0].field).toBe('body.due_string');
      const long = await tokyo.api.post('/tasks', { title: 'x', due_string: 'tomorrow '.repeat(20) });
      expect(long.status).toBe(400);
      expect(await taskCount(tokyo.id)).toBe(before);
    });
  });

  describe('PATCH /tasks/{id} with due_string', () => {
    it('sets the due date in words (a content edit: it needs the version) and moves relative reminders with it', async () => {
      const task = await newTask(tokyo, { due_date: new Date(Date.now() + 3_600_000).toISOString() });
      const reminder = await tokyo.api.post(`/tasks/${task.id}/reminders`, { type: 'before', offset_minutes: -30 });
      expect(reminder.status, reminder.text).toBe(201);

      const noVersion = await tokyo.api.patch(`/tasks/${task.id}`, { due_string: 'in 3 days' });
      expect(noVersion.status).toBe(400);
      expect(noVersion.body.error.details[0].field).toBe('body.version');

      const res = await tokyo.api.patch(`/tasks/${task.id}`, { version: 1, due_string: 'in 3 days' });
      expect(res.status, res.text).toBe(200);
      expect(res.body.data.version).toBe(2);
      const due = new Date(res.body.data.due_date);
      expect(wall(due, 'Asia/Tokyo')).toMatch(/ 09:00$/);
      expect(due.getTime() - Date.now()).toBeGreaterThan(2 * 86_400_000 - 60_000);
      const moved = (await tokyo.api.get(`/reminders/${reminder.body.data.id}`)).body.data;
      expect(moved.scheduled_at).toBe(new Date(due.getTime() - 30 * 60_000).toISOString());
    });

    it('refuses an unreadable text, both fields, and more than 30 days after the task\'s creation — changing nothing', async () => {
      const task = await newTask(tokyo, { due_date: new Date(Date.now() + 86_400_000).toISOString() });
      for (const body of [{ version: 1, due_string: 'the day after never' }, { version: 1, due_string: 'tomorrow', due_date: null }, { version: 1, due_string: 'in 31 days' }]) {
        const res = await tokyo.api.patch(`/tasks/${task.id}`, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.details[0].field).toBe('body.due_string');
      }
      expect((await tokyo.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ version: 1, due_date: task.due_date });
    });

    it('another user\'s task stays theirs (403), whatever the text', async () => {
      const task = await newTask(tokyo);
      const res = await utc.api.patch(`/tasks/${task.id}`, { version: 1, due_string: 'tomorrow 5pm' });
      expect(res.status).toBe(403);
      expect((await tokyo.api.get(`/tasks/${task.id}`)).body.data).toMatchObject({ version: 1, due_date: null });
    });
  });

  describe('confirmed AI actions take due_string with the same rules', () => {
    it('create_task and update_task resolve it in the user\'s zone when confirmed', async () => {
      const created = await tokyo.api.post('/ai/confirm-action', { action_type: 'create_task', action_data: { title: 'Book the venue', due_string: 'tomorrow 10am' } });
      expect(created.status, created.text).toBe(200);
      const task = created.body.data.task;
      expect(wall(new Date(task.due_date), 'Asia/Tokyo')).toMatch(/ 10:00$/);

      const updated = await tokyo.api.post('/ai/confirm-action', { action_type: 'update_task', action_data: { task_id: task.id, version: 1, due_string: 'next friday' } });
      expect(updated.status, updated.text).toBe(200);
      expect(wall(new Date(updated.body.data.task.due_date), 'Asia/Tokyo')).toMatch(/ 09:00$/);

      const before = await taskCount(tokyo.id);
      const bad = await tokyo.api.post('/ai/confirm-action', { action_type: 'create_task', action_data: { title: 'Nope', due_string: 'whenever' } });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].field).toBe('body.due_string');
      const both = await tokyo.api.post('/ai/confirm-action', { action_type: 'update_task', action_data: { task_id: task.id, version: 2, due_string: 'tomorrow', due_date: null } });
      expect(both.status).toBe(400);
      expect(await taskCount(tokyo.id)).toBe(before);
      expect((await tokyo.api.get(`/tasks/${task.id}`)).body.data.version).toBe(2);
    });
  });
});
