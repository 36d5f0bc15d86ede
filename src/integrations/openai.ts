import OpenAI from 'openai';
import type { ChatCompletionCreateParamsBase, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { Config } from '../config.js';
import type { Logger } from '../core/logging.js';
import { ProviderUnavailable } from './failures.js';

// The only code that talks to the AI provider: any OpenAI-compatible server (OPENAI_BASE_URL)
// through the openai SDK. Every failure — not configured, unreachable, an error status, an
// unreadable answer, no answer within OPENAI_TIMEOUT_MS — becomes one 503 AI_SERVICE_UNAVAILABLE,
// so callers charge nothing.

export interface AiMessage {
  role: 'system' | 'user';
  content: string;
}

export interface AiTool {
  name: string;
  description: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
}

export interface AiToolCall {
  name: string;
  /** The raw JSON text the model produced; the caller parses and validates it. */
  arguments: string;
}

export interface AiCompletion {
  content: string;
  toolCalls: AiToolCall[];
}

export interface AiRequest {
  messages: AiMessage[];
  tools?: AiTool[];
  /** Structured output: the answer's content must be JSON matching this schema. */
  jsonSchema?: { name: string; schema: Record<string, unknown> };
  /** The caller's abort (a client that went away). */
  signal?: AbortSignal;
}

/** A streamed answer: iterate for the text pieces, then `completion()` gives the whole answer. */
export interface AiStream extends AsyncIterable<string> {
  completion(): AiCompletion;
}

export interface AiProvider {
  /** Throws the 503 naming OPENAI_API_KEY when it is not set (every call below does too). */
  assertConfigured(): void;
  /** One answer, within the timeout. */
  complete(req: AiRequest): Promise<AiCompletion>;
  /**
   * Starts a streamed answer and waits for its first piece (so a provider that is down or silent
   * fails here, before anything is sent to the client). The timeout covers the whole stream.
   */
  stream(req: AiRequest): Promise<AiStream>;
}

export const aiUnavailable = (message = 'The AI service is unavailable; try again later'): ProviderUnavailable => new ProviderUnavailable('ai', message);

export function createAiProvider(config: Config, log: Logger): AiProvider {
  const client = config.OPENAI_API_KEY
    ? new OpenAI({
        apiKey: config.OPENAI_API_KEY,
        ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
        // our deadline (below) covers retries too; a retry would only outlast it
        maxRetries: 0,
        timeout: config.OPENAI_TIMEOUT_MS,
      })
    : undefined;
  const timeoutMs = config.OPENAI_TIMEOUT_MS;

  const require = (): OpenAI => {
    if (!client) throw aiUnavailable('AI is not configured: set OPENAI_API_KEY');
    return client;
  };

  const params = (req: AiRequest): ChatCompletionCreateParamsBase => ({
    model: config.OPENAI_MODEL,
    messages: req.messages as ChatCompletionMessageParam[],
    ...(req.tools?.length
      ? { tools: req.tools.map((t): ChatCompletionTool => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })) }
      : {}),
    ...(req.jsonSchema ? { response_format: { type: 'json_schema', json_schema: { name: req.jsonSchema.name, schema: req.jsonSchema.schema, strict: true } } } : {}),
  });

  /** The deadline for one whole answer, plus the caller's own abort. */
  const deadline = (req: AiRequest) => {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error('timeout')), timeoutMs);
    const signal = req.signal ? AbortSignal.any([timeout.signal, req.signal]) : timeout.signal;
    return { signal, timedOut: () => timeout.signal.aborted, done: () => clearTimeout(timer) };
  };

  const failure = (err: unknown, timedOut: boolean, req: AiRequest): ProviderUnavailable => {
    if (req.signal?.aborted) return aiUnavailable('The request was cancelled');
    if (timedOut) return aiUnavailable(`The AI service did not answer within ${Math.round(timeoutMs / 1000)} s; nothing was charged`);
    log.warn({ err: err instanceof Error ? { name: err.name, message: err.message, status: (err as { status?: number }).status } : String(err) }, 'AI provider failed');
    return aiUnavailable();
  };

  return {
    assertConfigured() {
      require();
    },

    async complete(req) {
      const ai = require();
      const d = deadline(req);
      try {
        const res = await ai.chat.completions.create({ ...params(req), stream: false }, { signal: d.signal });
        const message = res.choices?.[0]?.message;
        if (!message) throw new Error('the answer has no message');
        return {
          content: message.content ?? '',
          toolCalls: (message.tool_calls ?? []).flatMap((tc) => (tc.type === 'function' ? [{ name: tc.function.name, arguments: tc.function.arguments }] : [])),
        };
      } catch (err) {
        throw failure(err, d.timedOut(), req);
      } finally {
        d.done();
      }
    },

    async stream(req) {
      const ai = require();
      const d = deadline(req);
      let content = '';
      const calls = new Map<number, AiToolCall>();
      let iterator: AsyncIterator<OpenAI.Chat.Completions.ChatCompletionChunk>;
      /** The next text piece, or null when the answer is complete. */
      const nextPiece = async (): Promise<string | null> => {
        for (;;) {
          let step: IteratorResult<OpenAI.Chat.Completions.ChatCompletionChunk>;
          try {
            step = await iterator.next();
          } catch (err) {
            d.done();
            throw failure(err, d.timedOut(), req);
          }
          if (step.done) {
            d.done();
            // The SDK ends an aborted stream as if it were complete: a cut-off answer is a failure.
            if (d.signal.aborted) throw failure(new Error('aborted'), d.timedOut(), req);
            return null;
          }
          const delta = step.value.choices?.[0]?.delta;
          for (const tc of delta?.tool_calls ?? []) {
            const call = calls.get(tc.index) ?? { name: '', arguments: '' };
            if (tc.function?.name) call.name += tc.function.name;
            if (tc.function?.arguments) call.arguments += tc.function.arguments;
            calls.set(tc.index, call);
          }
          if (delta?.content) {
            content += delta.content;
            return delta.content;
          }
        }
      };

      try {
        const stream = await ai.chat.completions.create({ ...params(req), stream: true }, { signal: d.signal });
        iterator = stream[Symbol.asyncIterator]();
      } catch (err) {
        d.done();
        throw failure(err, d.timedOut(), req);
      }
      const first = await nextPiece();
      return {
        async *[Symbol.asyncIterator]() {
          if (first === null) return;
          yield first;
          for (let piece = await nextPiece(); piece !== null; piece = await nextPiece()) yield piece;
        },
        completion: () => ({ content, toolCalls: [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c) }),
      };
    },
  };
}
