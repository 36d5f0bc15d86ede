import { userActor } from '../domain/actor.js';
import { createTemplate as create } from '../domain/templates/create-template.js';
import { deleteTemplate as remove, generateTemplateInstance as generate, getTemplate as get, listTemplates as list, updateTemplate as update } from '../domain/templates/templates.js';
import { etag } from '../http/etag.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

export const listTemplates: Handler<'listTemplates'> = async (req, ctx) => {
  const { offset, limit, include_inactive } = req.query;
  return { status: 200, body: await list(ctx.deps.db, { userId: caller(ctx).userId, includeInactive: include_inactive ?? false, page: pageParams({ offset, limit }) }) };
};

export const createTemplate: Handler<'createTemplate'> = async (req, ctx) => {
  return { status: 201, body: { data: await create(ctx.deps.db, userActor(ctx), req.body) } };
};

export const getTemplate: Handler<'getTemplate'> = async (req, ctx) => {
  return { status: 200, body: { data: await get(ctx.deps.db, caller(ctx).userId, req.params.template_id) } };
};

export const updateTemplate: Handler<'updateTemplate'> = async (req, ctx) => {
  return { status: 200, body: { data: await update(ctx.deps.db, { actor: userActor(ctx), templateId: req.params.template_id, input: req.body }) } };
};

export const deleteTemplate: Handler<'deleteTemplate'> = async (req, ctx) => {
  return { status: 200, body: { data: await remove(ctx.deps.db, userActor(ctx), req.params.template_id) } };
};

export const generateTemplateInstance: Handler<'generateTemplateInstance'> = async (req, ctx) => {
  const task = await generate(ctx.deps.db, userActor(ctx), req.params.template_id);
  return { status: 201, body: { data: task }, headers: etag(task.version) };
};
