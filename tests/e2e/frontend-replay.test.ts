import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startFakeAudioHost, webmBytes, type FakeAudioHost } from '../fakes/audio-host.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { TEST_TLS_CERT } from '../fakes/tls.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { contract, findOperation } from '../helpers/contract.js';
import { createNote, createNotifications, createPersonalToken, createReminder, createSubtask, createTask, createTemplate, createWebhook, type OwnedResource } from '../helpers/resources.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { FrontendClient, frontendErrorCode, parseAsFrontend } from './frontend-client.js';
import {
  AchievementDataSchema,
  AchievementDefinitionSchema,
  AICreditsBalanceSchema,
  ActivityLogSchema,
  AnyJson,
  CancelSubscriptionResponseSchema,
  ChatResponseSchema,
  ConfirmActionResponseSchema,
  CreditBalanceSchema,
  CreditTransactionSchema,
  dataOf,
  FocusSessionSchema,
  ForceCompleteResultSchema,
  GenerateSubtasksResponseSchema,
  GoogleAuthResponseSchema,
  listOf,
  NoteSchema,
  NotificationSchema,
  paginatedListOf,
  PurchaseCreditsResponseSchema,
  RefreshTokenResponseSchema,
  ReminderSchema,
  SubscriptionResponseSchema,
  SubtaskSchema,
  TaskDetailSchema,
  TaskSchema,
  TombstoneSchema,
  TranscriptionResponseSchema,
  UserSchema,
} from './frontend-schemas.js';

// The production frontend's calls (../shared/reference/frontend-contract.md §4), replayed in the
// order a user's session makes them: every LIVE call, plus the SVC and HOOK calls that reach an
// operation of our contract. Each request carries the frontend's headers and is preceded by a CORS
// preflight; each 2xx body is parsed with the frontend's own zod schemas (frontend-schemas.ts), and
// TestClient checks every answer against openapi.yaml as well.
//
// Not replayed, because our contract has no such operation (only the unauthenticated service
// worker calls it): POST /reminders/{id}/fire (#25).

let app: BillingApp;
let google: FakeGoogle;
let ai: FakeOpenAI;
let dg: FakeDeepgram;
let host: FakeAudioHost;
let fe: FrontendClient;

beforeAll(async () => {
  [google, ai, dg, host] = await Promise.all([startFakeGoogle(), startFakeOpenAI(), startFakeDeepgram(), startFakeAudioHost()]);
  app = await startBillingApp({
    env: {
      GOOGLE_CLIENT_ID: google.clientId,
      GOOGLE_JWKS_URL: google.jwksUrl,
      OPENAI_API_KEY: ai.apiKey,
      OPENAI_BASE_URL: ai.baseUrl,
      DEEPGRAM_API_KEY: dg.apiKey,
      DEEPGRAM_URL: dg.baseUrl,
      TRANSCRIBE_EXTRA_CA_CERTS: TEST_TLS_CERT,
      TRANSCRIBE_ALLOW_LOOPBACK: 'true',
    },
  });
  host.serve('/voice.webm', { body: webmBytes(16_000 * 42), contentType: 'audio/webm' });
  dg.prerecorded = { transcript: 'Call the venue about the projector.', confidence: 0.94, language: 'en' };
  fe = new FrontendClient(app.t.api);
});
afterAll(async () => {
  await app?.close();
  await Promise.all([google?.close(), ai?.close(), dg?.close(), host?.close()]);
});

/** What NewTaskModal sends for a `datetime-local` value: `new Date(value).toISOString()` (minutes). */
const datetimeLocal = (fromNowMs: number) => {
  const d = new Date(Date.now() + fromNowMs);
  d.setUTCSeconds(0, 0);
  return d.toISOString();
};
const DAY = 86_400_000;
const shift = (iso: string, minutes: number) => new Date(Date.parse(iso) + minutes * 60_000).toISOString();

/** The ids the session creates, shared by the steps below (they run in order). */
const s = {} as {
  userId: string;
  report: z.output<typeof TaskSchema>;
  dentist: z.output<typeof TaskSchema>;
  offsite: z.output<typeof TaskSchema>;
  subtaskIds: string[];
  reminderIds: string[];
};

describe('the production frontend’s calls', () => {
  it('#1 signs in with Google (bare tokens), then #4 AuthContext.refetch loads /users/me', async () => {
    const idToken = google.signIdToken({ sub: 'g-frontend-ada', email: 'ada@example.com', name: 'Ada Lovelace' });
    const session = await fe.call('POST', '/auth/google/callback', { id_token: idToken }, GoogleAuthResponseSchema);
    expect(session).toMatchObject({ token_type: 'Bearer', user: { email: 'ada@example.com', name: 'Ada Lovelace', tier: 'free' } });
    fe.authToken = session.access_token;
    fe.refreshToken = session.refresh_token;
    const me = await fe.get('/users/me', dataOf(UserSchema));
    expect(me.data).toMatchObject({ id: session.user.id, google_id: 'g-frontend-ada', email: 'ada@example.com', timezone: 'UTC', tier: 'free' });
    s.userId = me.data.id;
  });

  it('§1.3 restores a session whose access token expired: TOKEN_EXPIRED → #2 POST /auth/refresh (rotating both) → /users/me again', async () => {
    // The stored access token, expired: same user and session, `exp` in the past.
    const claims = jwt.decode(fe.authToken!) as jwt.JwtPayload;
    const now = Math.floor(Date.now() / 1000);
    const keys = app.t.deps.tokens.keys;
    fe.authToken = jwt.sign({ ...claims, iat: now - 1000, exp: now - 100 }, keys.privateKey, { algorithm: 'RS256', keyid: keys.kid });

    const expired = await fe.send('GET', '/users/me');
    expect(expired.status).toBe(401);
    expect(frontendErrorCode(expired.body)).toBe('TOKEN_EXPIRED');

    // The expired token is still in localStorage, so the refresh carries it in Authorization too.
    const before = { access: fe.authToken, refresh: fe.refreshToken };
    const refreshed = await fe.call('POST', '/auth/refresh', { refresh_token: fe.refreshToken }, RefreshTokenResponseSchema);
    expect(refreshed.access_token).not.toBe(before.access);
    expect(refreshed.refresh_token).not.toBe(before.refresh);
    fe.authToken = refreshed.access_token;
    fe.refreshToken = refreshed.refresh_token;

    const me = await fe.get('/users/me', dataOf(UserSchema));
    expect(me.data.id).toBe(s.userId);
  });

  it('#5 usersService.updateCurrentUser {name, timezone}', async () => {
    const me = await fe.call('PATCH', '/users/me', { name: 'Ada King', timezone: 'Europe/London' }, dataOf(UserSchema));
    expect(me.data).toMatchObject({ name: 'Ada King', timezone: 'Europe/London' });
  });

  it('loads the dashboard: #6 open tasks, #31 /achievements/me, #32 /achievements, #34 the Header’s balance, #44 the ProfilePopover’s subscription, #41 notifications', async () => {
    expect((await fe.get('/tasks?completed=false', listOf(TaskSchema))).data).toEqual([]);
    const achievements = await fe.get('/achievements/me', dataOf(AchievementDataSchema));
    expect(achievements.data.unlocked).toEqual([]);
    expect(achievements.data.effective_limits).toEqual({ max_tasks: 50, max_notes: 10, daily_ai_credits: 0 });
    const definitions = await fe.get('/achievements', listOf(AchievementDefinitionSchema));
    expect(definitions.data.map((d) => d.id)).toContain('tasks_5');
    const balance = await fe.get('/credits/balance', dataOf(CreditBalanceSchema));
    expect(balance.data.total).toBeGreaterThan(0); // the kickstart credits
    const subscription = await fe.get('/subscription', dataOf(SubscriptionResponseSchema));
    expect(subscription.data).toMatchObject({ tier: 'free', status: null, current_period_end: null, cancel_at_period_end: false });
    expect((await fe.get('/notifications', listOf(NotificationSchema))).data).toEqual([]);
  });

  it('#8 creates tasks from NewTaskModal (empty fields omitted) and TaskForm (description "", nulls), #6 lists them as the pages and tasksService do', async () => {
    const due = datetimeLocal(2 * DAY);
    s.report = (await fe.call('POST', '/tasks', { title: 'Prepare the quarterly report', description: 'Collect the figures from finance.', priority: 'high', due_date: due, estimated_duration: 90 }, dataOf(TaskSchema))).data;
    expect(s.report).toMatchObject({ due_date: due, estimated_duration: 90, completed: false, completed_by: null, version: 1 });
    s.dentist = (await fe.call('POST', '/tasks', { title: 'Call the dentist', priority: 'medium', due_date: null }, dataOf(TaskSchema))).data;
    expect(s.dentist).toMatchObject({ description: '', due_date: null, estimated_duration: null });
    s.offsite = (await fe.call('POST', '/tasks', { title: 'Plan the team offsite', description: '', priority: 'low', due_date: null, estimated_duration: null }, dataOf(TaskSchema))).data;

    // Dashboard, tasks and focus pages; the CommandPalette (no query, first 5 items).
    const open = await fe.get('/tasks?completed=false', listOf(TaskSchema));
    expect(open.data.map((x) => x.id).sort()).toEqual([s.report.id, s.dentist.id, s.offsite.id].sort());
    expect((await fe.get('/tasks', listOf(TaskSchema))).data).toHaveLength(3);
    // tasksService.listTasks: every filter as String(value); pagination required.
    const query = new URLSearchParams({ offset: '0', limit: '50', completed: 'false', priority: 'high', hidden: 'false', due_before: shift(due, 60), due_after: shift(due, -60) });
    const page = await fe.get(`/tasks?${query}`, paginatedListOf(TaskSchema));
    expect(page.data.map((x) => x.id)).toEqual([s.report.id]);
    expect(page.pagination).toEqual({ offset: 0, limit: 50, total: 1, has_more: false });
  });

  it('opens a task: #7 useTask, #12/#13 subtasks (AddSubTaskForm and the service), #18 ReminderSection, #19 the service’s reminder, #21–23 the reminder hooks, #7 tasksService.getTask with full nested objects', async () => {
    const id = s.report.id;
    expect((await fe.get(`/tasks/${id}`, dataOf(TaskSchema))).data.id).toBe(id);
    expect((await fe.get(`/tasks/${id}/subtasks`, listOf(SubtaskSchema))).data).toEqual([]);
    const first = (await fe.call('POST', `/tasks/${id}/subtasks`, { title: 'Export the sales figures' }, dataOf(SubtaskSchema))).data;
    const second = (await fe.call('POST', `/tasks/${id}/subtasks`, { title: 'Draft the summary' }, dataOf(SubtaskSchema))).data;
    const inserted = (await fe.call('POST', `/tasks/${id}/subtasks`, { title: 'Ask finance for the ledger', order_index: 0 }, dataOf(SubtaskSchema))).data;
    expect([first.source, inserted.order_index]).toEqual(['user', 0]);
    const subtasks = (await fe.get(`/tasks/${id}/subtasks`, listOf(SubtaskSchema))).data;
    expect(subtasks.map((x) => x.id)).toEqual([inserted.id, first.id, second.id]);
    s.subtaskIds = subtasks.map((x) => x.id);

    // ReminderForm's preset "15 minutes before": negative offset, scheduled_at = due_date + offset.
    const scheduledAt = shift(s.report.due_date!, -15);
    const reminder = (await fe.call('POST', '/reminders', { task_id: id, type: 'before', offset_minutes: -15, scheduled_at: scheduledAt, method: 'in_app' }, dataOf(ReminderSchema))).data;
    expect(reminder).toMatchObject({ task_id: id, user_id: s.userId, type: 'before', offset_minutes: -15, scheduled_at: scheduledAt, method: 'in_app', fired: false, fired_at: null });
    // remindersService.createReminder: offset_minutes key always present.
    const viaService = (await fe.call('POST', `/tasks/${id}/reminders`, { type: 'before', offset_minutes: -60, scheduled_at: shift(s.report.due_date!, -60), method: 'in_app' }, dataOf(ReminderSchema))).data;
    s.reminderIds = [reminder.id, viaService.id];

    expect((await fe.get('/reminders', listOf(ReminderSchema))).data.map((r) => r.id).sort()).toEqual([...s.reminderIds].sort());
    expect((await fe.get(`/tasks/${id}/reminders`, listOf(ReminderSchema))).data).toHaveLength(2);
    expect((await fe.get(`/reminders/${reminder.id}`, dataOf(ReminderSchema))).data.id).toBe(reminder.id);

    const detail = (await fe.get(`/tasks/${id}`, dataOf(TaskDetailSchema))).data;
    expect(detail.subtasks.map((x) => x.id)).toEqual(s.subtaskIds);
    expect(detail.reminders.map((x) => x.id).sort()).toEqual([...s.reminderIds].sort());
    expect(detail).toMatchObject({ subtask_count: 3, subtask_completed_count: 0 });
  });

  it('#14 SubTaskList toggles with PUT {completed}, #15 subtasksService.updateSubtask, #16 deletes a subtask, #20 deletes a reminder (JSON bodies)', async () => {
    const toggled = (await fe.call('PUT', `/subtasks/${s.subtaskIds[1]}`, { completed: true }, dataOf(SubtaskSchema))).data;
    expect(toggled).toMatchObject({ completed: true, completed_at: expect.stringMatching(/Z$/) });
    const renamed = (await fe.call('PATCH', `/subtasks/${s.subtaskIds[2]}`, { title: 'Draft the executive summary' }, dataOf(SubtaskSchema))).data;
    expect(renamed.title).toBe('Draft the executive summary');
    await fe.call('DELETE', `/subtasks/${s.subtaskIds[0]}`, undefined, AnyJson);
    await fe.call('DELETE', `/reminders/${s.reminderIds[1]}`, undefined, AnyJson);
    const detail = (await fe.get(`/tasks/${s.report.id}`, dataOf(TaskDetailSchema))).data;
    expect(detail.subtasks.map((x) => [x.title, x.order_index])).toEqual([['Export the sales figures', 0], ['Draft the executive summary', 1]]);
    expect(detail.reminders.map((x) => x.id)).toEqual([s.reminderIds[0]]);
  });

  it('#9 edits with TaskForm (version and every field) and NewTaskModal’s edit, toggles completion without a version (TaskDetailView, PendingCompletionsBar)', async () => {
    const current = (await fe.get(`/tasks/${s.report.id}`, dataOf(TaskSchema))).data;
    const newDue = datetimeLocal(3 * DAY);
    const edited = (await fe.call('PATCH', `/tasks/${s.report.id}`, { version: current.version, title: 'Prepare the Q1 report', description: '', priority: 'high', due_date: newDue, estimated_duration: null }, dataOf(TaskSchema))).data;
    expect(edited).toMatchObject({ title: 'Prepare the Q1 report', description: '', due_date: newDue, estimated_duration: null, version: current.version + 1 });
    const again = (await fe.call('PATCH', `/tasks/${s.report.id}`, { version: edited.version, title: 'Prepare the Q1 report', priority: 'medium', due_date: newDue }, dataOf(TaskSchema))).data;
    expect(again).toMatchObject({ priority: 'medium', version: edited.version + 1 });

    const done = (await fe.call('PATCH', `/tasks/${s.dentist.id}`, { completed: true }, dataOf(TaskSchema))).data;
    expect(done).toMatchObject({ completed: true, completed_by: 'manual', completed_at: expect.stringMatching(/Z$/) });
    const undone = (await fe.call('PATCH', `/tasks/${s.dentist.id}`, { completed: false }, dataOf(TaskSchema))).data;
    expect(undone).toMatchObject({ completed: false, completed_by: null, completed_at: null });
  });

  it('the focus page: #6 open tasks, #12 the subtasks, #14 completes the last open subtask with PUT (the task auto-completes); the completed page lists it', async () => {
    await fe.get('/tasks?completed=false', listOf(TaskSchema));
    const subtasks = (await fe.get(`/tasks/${s.report.id}/subtasks`, listOf(SubtaskSchema))).data;
    for (const sub of subtasks.filter((x) => !x.completed)) await fe.call('PUT', `/subtasks/${sub.id}`, { completed: true }, dataOf(SubtaskSchema));
    const completed = (await fe.get('/tasks?completed=true', listOf(TaskSchema))).data;
    expect(completed.find((x) => x.id === s.report.id)).toMatchObject({ completed: true, completed_by: 'auto' });
    // And back, as the focus page's checkbox does.
    expect((await fe.call('PATCH', `/tasks/${s.report.id}`, { completed: false }, dataOf(TaskSchema))).data.completed).toBe(false);
  });

  it('#9 hides a task without a version; the hidden-tasks page lists with GET /tasks (no query) and finds nothing, as SPEC §5 specifies; unhiding works', async () => {
    const hidden = (await fe.call('PATCH', `/tasks/${s.offsite.id}`, { hidden: true }, dataOf(TaskSchema))).data;
    expect(hidden.hidden).toBe(true);
    // The page filters `t.hidden` on the client over GET /tasks, which excludes hidden tasks unless
    // hidden=true (SPEC §5): the production hidden-tasks page is empty by design of the spec.
    const all = (await fe.get('/tasks', listOf(TaskSchema))).data;
    expect(all.map((x) => x.id)).not.toContain(s.offsite.id);
    expect(all.filter((x) => x.hidden)).toEqual([]);
    // What a page that follows the contract asks for (tasksService can send hidden=true).
    expect((await fe.get('/tasks?hidden=true', listOf(TaskSchema))).data.map((x) => x.id)).toEqual([s.offsite.id]);
    const shown = (await fe.call('PATCH', `/tasks/${s.offsite.id}`, { hidden: false }, dataOf(TaskSchema))).data;
    expect(shown.hidden).toBe(false);
    expect((await fe.get('/tasks', listOf(TaskSchema))).data.map((x) => x.id)).toContain(s.offsite.id);
  });

  it('the unused hooks: #24 useUpdateReminder (PUT, partial), #51/#50/#52/#48/#49 focus sessions (none active is a 404), #17 useCompleteSubtask {}, #33 useUserAchievements', async () => {
    const task = (await fe.call('POST', '/tasks', { title: 'Write the offsite agenda', priority: 'medium', due_date: datetimeLocal(2 * DAY), estimated_duration: 30 }, dataOf(TaskSchema))).data;
    const reminder = (await fe.call('POST', '/reminders', { task_id: task.id, type: 'before', offset_minutes: -15, scheduled_at: shift(task.due_date!, -15), method: 'in_app' }, dataOf(ReminderSchema))).data;
    const moved = (await fe.call('PUT', `/reminders/${reminder.id}`, { type: 'before', offset_minutes: -60 }, dataOf(ReminderSchema))).data;
    expect(moved).toMatchObject({ id: reminder.id, type: 'before', offset_minutes: -60, method: 'in_app', scheduled_at: shift(task.due_date!, -60) });

    const started = (await fe.call('POST', '/focus-sessions', { task_id: task.id }, dataOf(FocusSessionSchema))).data;
    expect(started).toMatchObject({ task_id: task.id, user_id: s.userId, ended_at: null, duration_seconds: null });
    expect((await fe.get('/focus-sessions/active', dataOf(FocusSessionSchema))).data.id).toBe(started.id);
    const ended = (await fe.call('POST', `/focus-sessions/${started.id}/end`, {}, dataOf(FocusSessionSchema))).data;
    expect(ended).toMatchObject({ id: started.id, ended_at: expect.stringMatching(/Z$/), duration_seconds: expect.any(Number) });
    // None open: the hook (retry: false) gets an error, which it shows as no session.
    const none = await fe.send('GET', '/focus-sessions/active');
    expect(none.status).toBe(404);
    expect(frontendErrorCode(none.body)).toBe('NOT_FOUND');
    expect((await fe.get('/focus-sessions', listOf(FocusSessionSchema))).data.map((x) => x.id)).toEqual([started.id]);
    expect((await fe.get(`/tasks/${task.id}/focus-sessions`, listOf(FocusSessionSchema))).data).toEqual([ended]);

    const subtask = (await fe.call('POST', `/tasks/${task.id}/subtasks`, { title: 'List the topics' }, dataOf(SubtaskSchema))).data;
    const completed = (await fe.call('POST', `/subtasks/${subtask.id}/complete`, {}, dataOf(SubtaskSchema))).data;
    expect(completed).toMatchObject({ id: subtask.id, completed: true, completed_at: expect.stringMatching(/Z$/) });
    expect((await fe.get(`/tasks/${task.id}`, dataOf(TaskSchema))).data).toMatchObject({ completed: true, completed_by: 'auto' });

    const mine = (await fe.get(`/users/${s.userId}/achievements`, dataOf(AchievementDataSchema))).data;
    expect(mine).toEqual((await fe.get('/achievements/me', dataOf(AchievementDataSchema))).data);
  });

  it('#10 useForceCompleteTask {version}: the task, the unlocks ({achievement_id, achievement_name, perk}) and the streak; #31 shows the unlock as an id', async () => {
    // PendingCompletionsBar completes tasks until four count, so that the forced one is the fifth.
    const lifetime = async () => (await fe.get('/achievements/me', dataOf(AchievementDataSchema))).data.stats.lifetime_tasks_completed;
    for (let n = await lifetime(), i = 0; n < 4; n = await lifetime(), i++) {
      const task = (await fe.call('POST', '/tasks', { title: `Quick win ${i}`, priority: 'low', due_date: null }, dataOf(TaskSchema))).data;
      await fe.call('PATCH', `/tasks/${task.id}`, { completed: true }, dataOf(TaskSchema));
    }
    expect(await lifetime()).toBe(4);
    const task = (await fe.call('POST', '/tasks', { title: 'File the expenses', priority: 'medium', due_date: null }, dataOf(TaskSchema))).data;
    await fe.call('POST', `/tasks/${task.id}/subtasks`, { title: 'Collect the receipts' }, dataOf(SubtaskSchema));
    const version = (await fe.get(`/tasks/${task.id}`, dataOf(TaskSchema))).data.version;
    const result = (await fe.call('POST', `/tasks/${task.id}/force-complete`, { version }, dataOf(ForceCompleteResultSchema))).data;
    expect(result.task).toMatchObject({ id: task.id, completed: true, completed_by: 'force', subtask_completed_count: 1 });
    expect(result.unlocked_achievements).toEqual([{ achievement_id: 'tasks_5', achievement_name: 'Task Starter', perk: { type: 'max_tasks', value: 15 } }]);
    expect(result.streak).toBeGreaterThanOrEqual(1);
    const mine = (await fe.get('/achievements/me', dataOf(AchievementDataSchema))).data;
    expect(mine.unlocked).toEqual(['tasks_5']);
    expect(mine.effective_limits.max_tasks).toBe(65);
  });

  it('#11 deletes a task: TaskDetailView reads any JSON, tasksService the tombstone', async () => {
    const res = await fe.send('DELETE', `/tasks/${s.dentist.id}`);
    const tombstone = parseAsFrontend(res, dataOf(TombstoneSchema), 'DELETE /tasks/{id}').data;
    expect(Date.parse(tombstone.recoverable_until)).toBeGreaterThan(Date.now());
    expect((await fe.get('/tasks', listOf(TaskSchema))).data.map((x) => x.id)).not.toContain(s.dentist.id);
  });

  it('notes: #28 NoteEditor, #26 the notes page, #27 useNote, #29 edits; ConvertNoteDrawer (#8 then #29 {archived:true}); the archived-notes page; restore; #30 delete', async () => {
    const note = (await fe.call('POST', '/notes', { content: 'Book the venue for the offsite' }, dataOf(NoteSchema))).data;
    expect(note).toMatchObject({ archived: false, voice_url: null, voice_duration_seconds: null, transcription_status: null });
    const other = (await fe.call('POST', '/notes', { content: 'Ideas for the quarterly report' }, dataOf(NoteSchema))).data;
    expect((await fe.get('/notes', listOf(NoteSchema))).data.map((n) => n.id)).toEqual([other.id, note.id]);
    expect((await fe.get(`/notes/${note.id}`, dataOf(NoteSchema))).data.content).toBe('Book the venue for the offsite');
    const edited = (await fe.call('PATCH', `/notes/${note.id}`, { content: 'Book the venue for the offsite in May' }, dataOf(NoteSchema))).data;
    expect(edited.content).toBe('Book the venue for the offsite in May');

    // Convert to a task entirely on the client, then archive the note.
    const task = (await fe.call('POST', '/tasks', { title: 'Book the offsite venue', description: edited.content, priority: 'medium' }, dataOf(TaskSchema))).data;
    expect(task.description).toBe(edited.content);
    expect((await fe.call('PATCH', `/notes/${note.id}`, { archived: true }, dataOf(NoteSchema))).data.archived).toBe(true);
    // The archived-notes page calls GET /notes without `archived` and filters on the client: our
    // list returns archived notes too when the filter is omitted, so the page shows it.
    expect((await fe.get('/notes', listOf(NoteSchema))).data.filter((n) => n.archived).map((n) => n.id)).toEqual([note.id]);
    expect((await fe.call('PATCH', `/notes/${note.id}`, { archived: false }, dataOf(NoteSchema))).data.archived).toBe(false);
    await fe.call('DELETE', `/notes/${other.id}`, undefined, AnyJson);
    expect((await fe.get('/notes', listOf(NoteSchema))).data.map((n) => n.id)).toEqual([note.id]);
  });

  it('a reminder set on an overdue task fires: #41 the notifications page, #42 mark read with no body, #43 delete (JSON bodies)', async () => {
    const task = (await fe.call('POST', '/tasks', { title: 'Send the agenda', priority: 'high', due_date: datetimeLocal(0) }, dataOf(TaskSchema))).data;
    await fe.call('POST', '/reminders', { task_id: task.id, type: 'before', offset_minutes: -15, scheduled_at: shift(task.due_date!, -15), method: 'in_app' }, dataOf(ReminderSchema));
    const reminderNotification = async () => (await fe.get('/notifications', listOf(NotificationSchema))).data.find((n) => n.task_id === task.id);
    const worker = await app.t.startWorker();
    try {
      await expect.poll(reminderNotification, { timeout: 20_000, interval: 200 }).toBeDefined();
    } finally {
      await worker.stop();
    }
    const notification = (await reminderNotification())!;
    expect(notification).toMatchObject({ user_id: s.userId, read: false, message: expect.stringMatching(/\S/) });
    // The tasks_5 unlock above left its own notification, without a task.
    const all = (await fe.get('/notifications', listOf(NotificationSchema))).data;
    expect(all.map((n) => n.task_id)).toEqual([task.id, null]);
    await fe.call('PATCH', `/notifications/${notification.id}/read`, undefined, AnyJson);
    expect((await reminderNotification())!.read).toBe(true);
    await fe.call('DELETE', `/notifications/${notification.id}`, undefined, AnyJson);
    expect(await reminderNotification()).toBeUndefined();
  });

  it('the credits page: #34 the balance, #35 the history (hook ?limit=50, service ?offset=0&limit=50; pagination required)', async () => {
    const balance = (await fe.get('/credits/balance', dataOf(CreditBalanceSchema))).data;
    const history = await fe.get('/credits/history?limit=50', paginatedListOf(CreditTransactionSchema));
    expect(history.data.length).toBeGreaterThan(0);
    expect(history.data[0]!.balance_after).toBe(balance.total);
    const viaService = await fe.get('/credits/history?offset=0&limit=50', paginatedListOf(CreditTransactionSchema));
    expect(viaService.data).toEqual(history.data);
  });

  it('the pricing page: #45 POST /subscription/upgrade {} answers the unchanged subscription; after the payment the subscription-success page (#44) shows Pro', async () => {
    const res = await fe.send('POST', '/subscription/upgrade', {});
    const upgrade = parseAsFrontend(res, dataOf(SubscriptionResponseSchema), 'POST /subscription/upgrade');
    expect(upgrade.data).toMatchObject({ tier: 'free', status: null });
    // The user pays at Checkout.com's hosted page; its webhook confirms the payment.
    const { delivery } = await app.checkout.payHostedPage(res.body.data.session_id);
    expect(delivery.status).toBe(200);
    const subscription = (await fe.get('/subscription', dataOf(SubscriptionResponseSchema))).data;
    expect(subscription).toMatchObject({ tier: 'pro', status: 'active', cancel_at_period_end: false, features: { voice_notes: true, max_subtasks: 10 } });
    expect(Date.parse(subscription.current_period_end!)).toBeGreaterThan(Date.now());
    expect((await fe.get('/users/me', dataOf(UserSchema))).data.tier).toBe('pro');
  });

  it('the credits page buys a package: #47 POST /subscription/purchase-credits {amount:10} → {success, credits_purchased, new_balance}; the payment-success page (#34) shows it', async () => {
    const before = (await fe.get('/credits/balance', dataOf(CreditBalanceSchema))).data;
    const purchase = (await fe.call('POST', '/subscription/purchase-credits', { amount: 10 }, dataOf(PurchaseCreditsResponseSchema))).data;
    expect(purchase).toEqual({ success: true, credits_purchased: 10, new_balance: before.total + 10 });
    const after = (await fe.get('/credits/balance', dataOf(CreditBalanceSchema))).data;
    expect(after).toMatchObject({ purchased: before.purchased + 10, total: purchase.new_balance });
  });

  it('aiService: #36 credits, #37 chat, #38 generate-subtasks, #39 transcribe (Pro), #40 confirm-action of the suggestion', async () => {
    const credits = (await fe.get('/ai/credits', dataOf(AICreditsBalanceSchema))).data;
    expect(credits.tier).toBe('pro');
    const target = s.offsite.id;
    ai.answer({ content: 'The offsite is the open task with the most to plan.', toolCalls: [{ name: 'suggest_complete_task', arguments: { summary: 'Mark the offsite planning done', task_id: target } }] });
    const chat = (await fe.call('POST', '/ai/chat', { message: 'What can I close today?', context: { include_tasks: true, task_limit: 10 } }, dataOf(ChatResponseSchema))).data;
    expect(chat).toMatchObject({ credits_used: 1, ai_request_warning: false, suggested_actions: [{ type: 'complete_task', task_id: target }] });

    ai.answer({ json: { subtasks: [{ title: 'Pick a date' }, { title: 'Book the venue' }] } });
    const generated = (await fe.call('POST', '/ai/generate-subtasks', { task_id: target }, dataOf(GenerateSubtasksResponseSchema))).data;
    expect(generated.suggested_subtasks).toEqual([{ title: 'Pick a date' }, { title: 'Book the venue' }]);

    const transcribed = (await fe.call('POST', '/ai/transcribe', { audio_url: `${host.origin}/voice.webm`, duration_seconds: 42 }, dataOf(TranscriptionResponseSchema))).data;
    expect(transcribed).toMatchObject({ transcription: 'Call the venue about the projector.', language: 'en', confidence: 0.94, credits_used: 5 });

    const action = chat.suggested_actions[0]!;
    const confirmed = await fe.call('POST', '/ai/confirm-action', { action_type: action.type, action_data: action.data }, dataOf(ConfirmActionResponseSchema));
    expect(confirmed.data).toBeTypeOf('object');
    expect((await fe.get(`/tasks/${target}`, dataOf(TaskSchema))).data).toMatchObject({ completed: true });
  });

  it('#46 useCancelSubscription {} → {status, access_until}', async () => {
    const cancelled = (await fe.call('POST', '/subscription/cancel', {}, dataOf(CancelSubscriptionResponseSchema))).data;
    expect(cancelled.status).toBe('cancelled');
    expect((await fe.get('/subscription', dataOf(SubscriptionResponseSchema))).data).toMatchObject({ tier: 'pro', status: 'cancelled', cancel_at_period_end: true });
  });

  it('#53 useActivity ?limit=50: every entry the hook’s schema knows parses; the others are entity types the hook’s enum lacks', async () => {
    const res = await fe.send('GET', '/activity?limit=50');
    const entries = parseAsFrontend(res, z.object({ data: z.array(z.unknown()) }), 'GET /activity').data;
    expect(entries.length).toBeGreaterThan(0);
    const rejected = entries.filter((e) => !ActivityLogSchema.safeParse(e).success) as { entity_type: string }[];
    for (const e of rejected) {
      // The only difference allowed: the contract's extra entity types (an unused hook would reject them).
      expect(ActivityLogSchema.safeParse({ ...e, entity_type: 'task' }).success, JSON.stringify(e)).toBe(true);
      expect(['template', 'credit', 'user']).toContain(e.entity_type);
    }
    expect(entries.length - rejected.length).toBeGreaterThan(0);
  });

  it('#54 useUserActivity GET /users/{id}/activity: the caller’s own /activity, parsed as #53', async () => {
    const res = await fe.send('GET', `/users/${s.userId}/activity`);
    const entries = parseAsFrontend(res, z.object({ data: z.array(z.unknown()) }), 'GET /users/{id}/activity').data;
    expect(entries).toEqual(parseAsFrontend(await fe.send('GET', '/activity'), z.object({ data: z.array(z.unknown()) }), 'GET /activity').data);
    expect(entries.filter((e) => ActivityLogSchema.safeParse(e).success).length).toBeGreaterThan(0);
  });

  it('§7.21 the service worker polls GET /reminders and GET /tasks without Authorization: 401, so it shows nothing', async () => {
    const sw = new FrontendClient(app.t.api);
    for (const endpoint of ['/reminders', '/tasks']) {
      const res = await sw.send('GET', endpoint);
      expect(res.status).toBe(401);
      expect(frontendErrorCode(res.body)).toBe('UNAUTHORIZED');
    }
  });

  it('#3 logs out from the ProfilePopover: {refresh_token} → 200 {data: null}, which the client’s response.json() parses; the refresh token is dead', async () => {
    const refreshToken = fe.refreshToken;
    const res = await fe.send('POST', '/auth/logout', { refresh_token: refreshToken });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ data: null });
    fe.authToken = null;
    fe.refreshToken = null;
    const reuse = await fe.send('POST', '/auth/refresh', { refresh_token: refreshToken });
    expect(reuse.status).toBe(401);
    expect(frontendErrorCode(reuse.body)).toBe('INVALID_REFRESH_TOKEN');
  });

  it('sent every call of §4 that reaches an operation of the contract, each after a passing preflight', () => {
    const sent = new Set(fe.log.map((line) => {
      const [method, endpoint] = line.split(' ');
      const route = findOperation(method!, endpoint!.split('?')[0]!);
      return `${method} ${route?.template}`;
    }));
    const expected = [
      'POST /auth/google/callback', 'POST /auth/refresh', 'POST /auth/logout', 'GET /users/me', 'PATCH /users/me',
      'GET /tasks', 'GET /tasks/{task_id}', 'POST /tasks', 'PATCH /tasks/{task_id}', 'POST /tasks/{task_id}/force-complete', 'DELETE /tasks/{task_id}',
      'GET /tasks/{task_id}/subtasks', 'POST /tasks/{task_id}/subtasks', 'PUT /subtasks/{subtask_id}', 'PATCH /subtasks/{subtask_id}', 'DELETE /subtasks/{subtask_id}',
      'POST /reminders', 'POST /tasks/{task_id}/reminders', 'DELETE /reminders/{reminder_id}', 'GET /reminders', 'GET /tasks/{task_id}/reminders', 'GET /reminders/{reminder_id}',
      'GET /notes', 'GET /notes/{note_id}', 'POST /notes', 'PATCH /notes/{note_id}', 'DELETE /notes/{note_id}',
      'GET /achievements/me', 'GET /achievements', 'GET /credits/balance', 'GET /credits/history',
      'GET /ai/credits', 'POST /ai/chat', 'POST /ai/generate-subtasks', 'POST /ai/transcribe', 'POST /ai/confirm-action',
      'GET /notifications', 'PATCH /notifications/{notification_id}/read', 'DELETE /notifications/{notification_id}',
      'GET /subscription', 'POST /subscription/upgrade', 'POST /subscription/cancel', 'POST /subscription/purchase-credits',
      'GET /activity',
      'POST /subtasks/{subtask_id}/complete', 'PUT /reminders/{reminder_id}', 'GET /users/{user_id}/achievements', 'GET /users/{user_id}/activity',
      'GET /focus-sessions', 'POST /focus-sessions', 'GET /focus-sessions/active', 'POST /focus-sessions/{focus_session_id}/end', 'GET /tasks/{task_id}/focus-sessions',
    ];
    expect(expected.filter((call) => !sent.has(call))).toEqual([]);
    expect(fe.preflights.length).toBeGreaterThan(expected.length);
  });
});

describe('§1.2: the frontend calls response.json() on every 2xx', () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await signUp(app.t);
  });

  /** How to make something each DELETE of the contract can delete, by its path parameter (or operation). */
  const deletable: Record<string, (u: TestUser) => Promise<{ endpoint: string; cleanup?: () => Promise<void> }>> = {
    task_id: async (u) => ({ endpoint: `/tasks/${(await createTask(u)).id}` }),
    subtask_id: async (u) => ({ endpoint: `/subtasks/${(await createSubtask(u)).id}` }),
    reminder_id: async (u) => ({ endpoint: `/reminders/${(await createReminder(u)).id}` }),
    note_id: async (u) => ({ endpoint: `/notes/${(await createNote(u)).id}` }),
    template_id: async (u) => ({ endpoint: `/templates/${(await createTemplate(u)).id}` }),
    token_id: async (u) => ({ endpoint: `/tokens/${(await createPersonalToken(u)).id}` }),
    notification_id: async (u) => ({ endpoint: `/notifications/${(await notificationOf(u)).id}` }),
    webhook_id: async (u) => ({ endpoint: `/webhooks/${(await createWebhook(u)).id}` }),
    removePushSubscription: async (u) => {
      const subscription = app.pushService.subscribe();
      const res = await u.api.post('/notifications/push-subscription', subscription);
      expect(res.status, res.text).toBe(201);
      return { endpoint: `/notifications/push-subscription?endpoint=${encodeURIComponent(subscription.endpoint)}` };
    },
    revokeCalendarFeed: async (u) => {
      const res = await u.api.post('/calendar/feed');
      expect(res.status, res.text).toBe(201);
      return { endpoint: '/calendar/feed' };
    },
  };
  async function notificationOf(u: TestUser): Promise<OwnedResource> {
    const worker = await app.t.startWorker();
    try {
      return (await createNotifications(u, 1))[0]!;
    } finally {
      await worker.stop();
    }
  }

  it('every DELETE of the contract, sent as the frontend sends it (Content-Type, no body), answers 200 with a JSON body, never an empty 204', async () => {
    const client = new FrontendClient(app.t.api);
    client.authToken = user.token;
    const deletes = [...contract.operations.values()].filter((op) => op.method === 'DELETE');
    expect(deletes.length).toBeGreaterThan(0);
    const uncovered: string[] = [];
    for (const op of deletes) {
      // Every documented 2xx has a JSON body.
      const responses = contract.document.paths[op.path].delete.responses as Record<string, { $ref?: string; content?: Record<string, unknown> }>;
      for (const [status, response] of Object.entries(responses).filter(([status]) => status.startsWith('2'))) {
        const resolved = response.$ref ? response.$ref.slice(2).split('/').reduce((o: any, k) => o[k], contract.document) : response;
        expect(status, `${op.operationId} documents a 204`).not.toBe('204');
        expect(Object.keys(resolved.content ?? {}), `${op.operationId} ${status}`).toContain('application/json');
      }
      if (contract.document.paths[op.path].delete.requestBody?.required) {
        // Needs a confirmation in its body (DELETE /users/me), so the frontend's body-less DELETE
        // cannot be it; sent that way anyway, it is refused with a JSON body, not an empty answer.
        const res = await client.send('DELETE', op.path);
        expect(res.status, `${op.operationId}: ${res.text}`).toBe(400);
        expect(res.headers.get('content-type'), op.operationId).toMatch(/^application\/json/);
        expect(JSON.parse(res.text).error.details).toEqual([{ field: 'body', message: 'a JSON body is required' }]);
        continue;
      }
      const param = /\{(\w+)\}/.exec(op.path)?.[1];
      const make = deletable[op.operationId] ?? (param ? deletable[param] : undefined);
      if (!make) {
        uncovered.push(op.operationId);
        continue;
      }
      const { endpoint } = await make(user);
      const res = await client.send('DELETE', endpoint);
      expect(res.status, `${op.operationId}: ${res.text}`).toBe(200);
      expect(res.headers.get('content-type'), op.operationId).toMatch(/^application\/json/);
      parseAsFrontend(res, AnyJson, op.operationId);
    }
    expect(uncovered, 'DELETE operations without a way to create what they delete here').toEqual([]);
  });

  it('PATCH /notifications/{id}/read with Content-Type and no body answers 200 with JSON', async () => {
    const client = new FrontendClient(app.t.api);
    client.authToken = user.token;
    const notification = await notificationOf(user);
    const res = await client.send('PATCH', `/notifications/${notification.id}/read`);
    expect(res.status).toBe(200);
    expect(parseAsFrontend(res, dataOf(NotificationSchema), 'PATCH /notifications/{id}/read').data.read).toBe(true);
  });
});

describe('§2: the schemas above reject what the frontend’s zod rejects', () => {
  const task = {
    id: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d',
    user_id: '0193f19f-5a2b-7c3d-8e4f-5a6b7c8d9e0f',
    template_id: null,
    title: 'Prepare the quarterly report',
    due_date: '2026-01-23T17:00:00.000Z',
    estimated_duration: null,
    completed_at: null,
    completed_by: null,
    created_at: '2026-01-19T10:30:00.000Z',
    updated_at: '2026-01-19T10:30:00Z',
    version: 1,
  };

  it('accepts a minimal task and fills the defaults', () => {
    expect(TaskSchema.parse(task)).toMatchObject({ description: '', priority: 'medium', completed: false, hidden: false, subtask_count: 0 });
  });

  it.each([
    ['a +00:00 offset', { due_date: '2026-01-23T17:00:00+00:00' }],
    ['a naive timestamp', { created_at: '2026-01-19T10:30:00' }],
    ['an impossible date', { created_at: '2026-02-30T10:30:00Z' }],
    ['a hand-made uuid', { id: '00000000-0000-0000-0000-000000000001' }],
    ['a null description (default, not nullable)', { description: null }],
    ['a missing nullable key', { template_id: undefined }],
    ['an unknown priority', { priority: 'urgent' }],
  ])('rejects %s', (_what, change) => {
    expect(TaskSchema.safeParse({ ...task, ...change }).success).toBe(false);
  });

  it('requires pagination in the paginated envelope and unlocked ids as strings', () => {
    expect(paginatedListOf(TaskSchema).safeParse({ data: [task] }).success).toBe(false);
    expect(paginatedListOf(TaskSchema).safeParse({ data: [task], pagination: { offset: 0, limit: 101, total: 1, has_more: false } }).success).toBe(false);
    const achievements = { stats: {}, unlocked: [{ id: 'tasks_5' }], progress: [], effective_limits: { max_tasks: 50, max_notes: 10, daily_ai_credits: 0 } };
    expect(AchievementDataSchema.safeParse(achievements).success).toBe(false);
    expect(AchievementDataSchema.safeParse({ ...achievements, unlocked: ['tasks_5'] }).success).toBe(true);
    expect(NotificationSchema.safeParse({ id: task.id, user_id: task.user_id, title: 'Reminder', body: 'Due soon', task_id: null, created_at: task.created_at, updated_at: task.created_at }).success).toBe(false);
  });
});
