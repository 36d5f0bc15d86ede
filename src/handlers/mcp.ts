import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { validationError } from '../core/errors.js';
import { caller, type Handler, type RequestContext } from '../http/operation.js';
import { isRefusal, mcpTools, runTool, type McpTool } from './mcp/tools.js';

// POST /mcp: a Model Context Protocol server (Streamable HTTP, stateless, JSON answers) for the
// user's AI assistant, authenticated by a personal access token (the contract's security says
// so; the dispatcher checks it). A server and transport are made per request: nothing is kept
// between requests, so any API process can answer any of them.

const refused = (code: string, message: string): CallToolResult => ({ content: [{ type: 'text', text: `${code}: ${message}` }], isError: true });

function mcpServer(ctx: RequestContext): Server {
  const auth = caller(ctx);
  const scopes = auth.personalToken?.scopes ?? [];
  const allowed = (tool: McpTool) => tool.scopes.every((s) => scopes.includes(s));
  const tools = mcpTools(ctx.deps.contract);
  const server = new Server({ name: 'perpetua-flow', version: String(ctx.deps.contract.document.info?.version ?? '1') }, { capabilities: { tools: {} } });

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: tools.filter(allowed).map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema as { type: 'object' } })),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const tool = tools.find((t) => t.name === request.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    const missing = tool.scopes.filter((s) => !scopes.includes(s));
    if (missing.length) return refused('INSUFFICIENT_SCOPE', `This personal access token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
    const args = request.params.arguments ?? {};
    if (!tool.validate(args)) {
      const problems = (tool.validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
      return refused('VALIDATION_ERROR', problems.join('; '));
    }
    try {
      const result = await runTool(tool, { db: ctx.deps.db, actor: { userId: auth.userId, source: 'ai', requestId: ctx.requestId } }, args);
      const structured = (Array.isArray(result) ? { data: result } : result) as Record<string, unknown>;
      return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: structured };
    } catch (err) {
      if (isRefusal(err)) return refused(err.code, err.message);
      ctx.log.error({ err, tool: tool.name }, 'MCP tool failed');
      throw new McpError(ErrorCode.InternalError, 'Internal error');
    }
  });
  return server;
}

export const callMcp: Handler<'callMcp'> = async (req, ctx) => {
  const server = mcpServer(ctx);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  try {
    const version = req.headers['mcp-protocol-version'];
    const request = new Request('http://127.0.0.1/api/v1/mcp', {
      method: 'POST',
      // The dispatcher has read and checked the body; the transport sees what it needs to answer in JSON.
      headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json', ...(version ? { 'mcp-protocol-version': version } : {}) },
      body: JSON.stringify(req.body),
    });
    const response = await transport.handleRequest(request, { parsedBody: req.body });
    const text = await response.text();
    if (response.status === 202) return { status: 202, body: undefined };
    const body = text ? (JSON.parse(text) as { error?: { message?: string } }) : undefined;
    if (response.status === 200 && body) return { status: 200, body: body as never };
    // The transport refused the message (an unsupported protocol version, a malformed message): a 400 in our envelope.
    throw validationError([{ field: 'body', message: body?.error?.message ?? `MCP transport answered ${response.status}` }], 'Invalid MCP message');
  } finally {
    await server.close();
  }
};
