import type { HandlerRegistry } from '../http/operation.js';
import * as achievements from './achievements.js';
import * as activity from './activity.js';
import * as ai from './ai.js';
import * as auth from './auth.js';
import * as calendar from './calendar.js';
import * as credits from './credits.js';
import * as focus from './focus.js';
import * as mcp from './mcp.js';
import * as notes from './notes.js';
import * as notifications from './notifications.js';
import * as operations from './operations.js';
import * as push from './push.js';
import * as reminders from './reminders.js';
import * as search from './search.js';
import * as subscription from './subscription.js';
import * as subtasks from './subtasks.js';
import * as sync from './sync.js';
import * as tasks from './tasks.js';
import * as templates from './templates.js';
import * as tokens from './tokens.js';
import * as users from './users.js';
import * as webhooks from './webhooks.js';

/** Every operation of openapi.yaml, by operationId. The type makes a missing or unknown one a compile error. */
export const handlers: HandlerRegistry = {
  ...operations,
  ...auth,
  ...users,
  ...tasks,
  ...subtasks,
  ...templates,
  ...reminders,
  ...notifications,
  ...notes,
  ...ai,
  ...credits,
  ...achievements,
  ...focus,
  ...subscription,
  ...push,
  ...activity,
  ...calendar,
  ...sync,
  ...search,
  ...webhooks,
  ...tokens,
  ...mcp,
};
