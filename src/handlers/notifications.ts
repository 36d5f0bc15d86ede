import { deleteNotification as remove, listNotifications as list, markAllNotificationsRead as markAll, markNotificationRead as markRead } from '../domain/notifications/notifications.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

export const listNotifications: Handler<'listNotifications'> = async (req, ctx) => {
  const { offset, limit, unread_only } = req.query;
  return { status: 200, body: await list(ctx.deps.db, { userId: caller(ctx).userId, unreadOnly: unread_only ?? false, page: pageParams({ offset, limit }) }) };
};

export const markNotificationRead: Handler<'markNotificationRead'> = async (req, ctx) => {
  return { status: 200, body: { data: await markRead(ctx.deps.db, caller(ctx).userId, req.params.notification_id) } };
};

export const markAllNotificationsRead: Handler<'markAllNotificationsRead'> = async (_req, ctx) => {
  return { status: 200, body: { data: await markAll(ctx.deps.db, caller(ctx).userId) } };
};

export const deleteNotification: Handler<'deleteNotification'> = async (req, ctx) => {
  return { status: 200, body: { data: await remove(ctx.deps.db, caller(ctx).userId, req.params.notification_id) } };
};
