import { notYet } from '../http/not-implemented.js';

// Issue #3: these operations are specified in openapi.yaml and answer 501 until built.

export const listNotifications = notYet('listNotifications', 3);
export const markNotificationRead = notYet('markNotificationRead', 3);
export const markAllNotificationsRead = notYet('markAllNotificationsRead', 3);
export const deleteNotification = notYet('deleteNotification', 3);
