import type { ServerResponse } from 'node:http';
import { userActor } from '../domain/actor.js';
import { chat, openChatStream, type AiCaller, type ChatInput, type ChatResult } from '../domain/ai/chat.js';
import { confirmAiAction as confirmAction } from '../domain/ai/confirm-action.js';
import { generateSubtaskSuggestions } from '../domain/ai/generate-subtasks.js';
import { transcribeAudio as transcribe } from '../domain/ai/transcribe-audio.js';
import { aiCreditsView } from '../domain/credits/history.js';
import { AppError, DomainError } from '../http/errors.js';
import { etag } from '../http/etag.js';
import { caller, streamingHandler, type Handler, type RequestContext, type StreamReply } from '../http/operation.js';
import { openEventStream, prefersEventStream, type EventStream } from '../http/sse.js';

// The per-task counters' session is the access token (its jti): a refresh resets them (FR-035, seed plan).
const aiCaller = (ctx: RequestContext): AiCaller => ({ actor: userActor(ctx), sessionId: caller(ctx).tokenId });

/** The chat as server-sent events: `delta`…, then `done` (charged) or `error` (the reserved credit refunded). */
async function chatEventStream(input: ChatInput, ctx: RequestContext): Promise<StreamReply> {
  const stop = new AbortController();
  const chatStream = await openChatStream(ctx.deps, { caller: aiCaller(ctx), input, signal: stop.signal });
  return {
    status: 'stream',
    async write(res) {
      let events: EventStream | undefined;
      try {
        events = openEventStream(res);
        events.onDisconnect(() => stop.abort());
        for await (const text of chatStream.pieces) events.send('delta', { text });
        // The provider finished: the answer is paid for even if the client left meanwhile.
        const result = await chatStream.settle();
        events.send('done', result);
        return { status: 200, body: { data: result } };
      } catch (err) {
        // No `done`: the credit reserved before the first piece is refunded.
        await chatStream.release();
        const known = err instanceof DomainError && err.code === 'AI_SERVICE_UNAVAILABLE';
        if (!known) ctx.log.error({ err }, 'chat stream failed');
        events?.send('error', known ? { code: (err as DomainError).code, message: (err as DomainError).message } : { code: 'INTERNAL_ERROR', message: 'An unexpected error occurred; nothing was charged' });
        return null;
      } finally {
        // The dispatcher ends the response once the answer is stored (see StreamReply).
        events?.finish();
      }
    },
  };
}

/** A stored chat answer, replayed as the stream it was: the whole text as one `delta`, then `done`. */
function replayChatAsStream(stored: { body: unknown }, res: ServerResponse): true {
  const result = (stored.body as { data: ChatResult }).data;
  const events = openEventStream(res);
  events.send('delta', { text: result.response });
  events.send('done', result);
  events.end();
  return true;
}

export const chatWithAssistant = streamingHandler<'chatWithAssistant'>(
  async (req, ctx) => {
    if (prefersEventStream(req.headers.accept)) return chatEventStream(req.body, ctx);
    return { status: 200, body: { data: await chat(ctx.deps, aiCaller(ctx), req.body) } };
  },
  (stored, headers, res) => prefersEventStream(headers.accept) && replayChatAsStream(stored, res),
);

export const streamChatWithAssistant = streamingHandler<'streamChatWithAssistant'>(
  async (req, ctx) => chatEventStream(req.body, ctx),
  (stored, _headers, res) => replayChatAsStream(stored, res),
);

export const getAiCredits: Handler<'getAiCredits'> = async (_req, ctx) => ({
  status: 200,
  body: { data: await aiCreditsView(ctx.deps.db, caller(ctx).userId) },
});

export const generateSubtasks: Handler<'generateSubtasks'> = async (req, ctx) => ({
  status: 200,
  body: { data: await generateSubtaskSuggestions(ctx.deps, aiCaller(ctx), req.body.task_id) },
});

export const confirmAiAction: Handler<'confirmAiAction'> = async (req, ctx) => {
  const { result, unlockedAchievements } = await confirmAction(ctx.deps.db, userActor(ctx), req.body);
  return {
    status: 200,
    body: { data: result, ...(unlockedAchievements.length ? { unlocked_achievements: unlockedAchievements } : {}) },
    ...(result.task ? { headers: etag(result.task.version) } : {}),
  };
};
export const transcribeAudio: Handler<'transcribeAudio'> = async (req, ctx) => ({
  status: 200,
  body: { data: await transcribe(ctx.deps, userActor(ctx), req.body) },
});
/** A plain GET of the WebSocket endpoint; the upgrade itself is served by src/ws/voice.ts. */
export const streamVoiceTranscription: Handler<'streamVoiceTranscription'> = async () => {
  throw new AppError('UPGRADE_REQUIRED', 'This endpoint only accepts WebSocket connections', { headers: { Upgrade: 'websocket' } });
};
