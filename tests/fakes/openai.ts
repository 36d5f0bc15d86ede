import http from 'node:http';

/**
 * An OpenAI-compatible server on 127.0.0.1: `POST /v1/chat/completions` as JSON or, with
 * `stream: true`, as SSE `chat.completion.chunk`s ending with `data: [DONE]`; tool calls; structured
 * output (it answers `json` as the message content when the request asks for `response_format`
 * json_schema). Tests script what it answers and read the requests it received.
 */
export interface FakeOpenAI {
  /** The base URL for the SDK (`…/v1`). */
  baseUrl: string;
  apiKey: string;
  /** Every chat request body received, in order. */
  requests: ChatCompletionRequest[];
  /** What every following request gets (until changed); a function decides per request. */
  answer(reply: FakeReply | ((req: ChatCompletionRequest) => FakeReply)): void;
  /** What only the next request gets, before falling back to `answer`'s reply. */
  answerOnce(reply: FakeReply): void;
  close(): Promise<void>;
}

export interface FakeToolCall {
  name: string;
  /** An object is sent as its JSON; a string as it is (to send broken arguments). */
  arguments: Record<string, unknown> | string;
}

export type FakeReply =
  | {
      /** The assistant's text; a stream sends it word by word. */
      content?: string;
      /** Structured output: sent as the JSON content. */
      json?: unknown;
      toolCalls?: FakeToolCall[];
      /** Streaming: delay between chunks. */
      chunkDelayMs?: number;
      /** Streaming: stop answering after this many chunks (the connection stays open). */
      stallAfterChunks?: number;
      /** Streaming: drop the connection after this many chunks. */
      dropAfterChunks?: number;
      /** Answer only after this long. */
      delayMs?: number;
    }
  | { fail: number; message?: string }
  | { garbage: true }
  | { stall: true };

export interface ChatCompletionRequest {
  model: string;
  messages: { role: string; content: string | null; tool_calls?: unknown }[];
  stream?: boolean;
  tools?: { type: 'function'; function: { name: string; description?: string; parameters?: unknown } }[];
  response_format?: { type: string; json_schema?: { name: string; schema: unknown; strict?: boolean } };
  [k: string]: unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startFakeOpenAI(apiKey = 'sk-test-fake'): Promise<FakeOpenAI> {
  let standing: FakeReply | ((req: ChatCompletionRequest) => FakeReply) = { content: 'Hello from the fake model.' };
  const queue: FakeReply[] = [];
  const open = new Set<http.ServerResponse>();
  let seq = 0;

  const fake: FakeOpenAI = {
    baseUrl: '',
    apiKey,
    requests: [],
    answer(reply) {
      standing = reply;
      queue.length = 0;
    },
    answerOnce(reply) {
      queue.push(reply);
    },
    close: async () => {},
  };

  const server = http.createServer(async (req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } }));
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatCompletionRequest;
    fake.requests.push(body);
    const next = queue.shift() ?? standing;
    const reply = typeof next === 'function' ? next(body) : next;

    if ('stall' in reply) return; // never answers; the client's timeout must end it
    if ('fail' in reply) {
      res.writeHead(reply.fail, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: reply.message ?? 'The server had an error', type: 'server_error' } }));
      return;
    }
    if ('garbage' in reply) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"this is": not json');
      return;
    }
    if (reply.delayMs) await sleep(reply.delayMs);
    const id = `chatcmpl-fake-${++seq}`;
    const created = Math.floor(Date.now() / 1000);
    const content = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.content ?? '');
    const toolCalls = (reply.toolCalls ?? []).map((tc, i) => ({
      index: i,
      id: `call_${seq}_${i}`,
      type: 'function' as const,
      function: { name: tc.name, arguments: typeof tc.arguments === 'string' ? tc.arguments : JSON.stringify(tc.arguments) },
    }));
    const finish = toolCalls.length ? 'tool_calls' : 'stop';

    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls.map(({ index: _i, ...tc }) => tc) } : {}) },
              logprobs: null,
              finish_reason: finish,
            },
          ],
          usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
        }),
      );
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] })}\n\n`);
    const pieces = content ? content.match(/\S+\s*|\s+/g) ?? [content] : [];
    let sent = 0;
    send({ role: 'assistant', content: '' });
    for (const piece of pieces) {
      if (reply.stallAfterChunks !== undefined && sent >= reply.stallAfterChunks) return;
      if (reply.dropAfterChunks !== undefined && sent >= reply.dropAfterChunks) {
        res.socket?.destroy();
        return;
      }
      if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
      if (res.destroyed) return;
      send({ content: piece });
      sent++;
    }
    for (const tc of toolCalls) {
      // name first, then the arguments in two pieces, as the real API does
      send({ tool_calls: [{ index: tc.index, id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } }] });
      const half = Math.floor(tc.function.arguments.length / 2);
      send({ tool_calls: [{ index: tc.index, function: { arguments: tc.function.arguments.slice(0, half) } }] });
      send({ tool_calls: [{ index: tc.index, function: { arguments: tc.function.arguments.slice(half) } }] });
    }
    send({}, finish);
    res.end('data: [DONE]\n\n');
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  fake.baseUrl = `http://127.0.0.1:${port}/v1`;
  fake.close = () =>
    new Promise((resolve) => {
      for (const res of open) res.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return fake;
}
