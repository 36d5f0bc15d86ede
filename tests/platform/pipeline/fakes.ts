import type { ServerResponse } from 'node:http';
import type { ApiRequest } from '../../../src/http/request-state.js';

/** A request as the pipeline sees it after body parsing, without a socket. */
export function fakeRequest(parts: Partial<Pick<ApiRequest, 'method' | 'path' | 'headers' | 'query' | 'body' | 'ip' | 'rawBody'>>): ApiRequest {
  return { method: 'GET', path: '/api/v1/tasks', headers: {}, query: {}, ip: '127.0.0.1', ...parts } as ApiRequest;
}

/** The parts of a ServerResponse the steps use: headers, status and the written text. */
export interface FakeResponse {
  res: ServerResponse;
  headers: Record<string, string | number | readonly string[]>;
  status(): number;
  written(): string | undefined;
  ended(): boolean;
}

export function fakeResponse(): FakeResponse {
  const headers: Record<string, string | number | readonly string[]> = {};
  let text: string | undefined;
  let ended = false;
  const res = {
    statusCode: 200,
    get writableEnded() {
      return ended;
    },
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name] = value;
      return res;
    },
    end(chunk?: string) {
      text = chunk;
      ended = true;
      return res;
    },
  };
  return { res: res as unknown as ServerResponse, headers, status: () => res.statusCode, written: () => text, ended: () => ended };
}
