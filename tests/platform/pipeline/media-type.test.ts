import { describe, expect, it } from 'vitest';
import { checkMediaType } from '../../../src/http/pipeline/media-type.js';
import { fakeRequest } from './fakes.js';

const withBody = (contentType?: string) => fakeRequest({ method: 'POST', headers: { 'content-length': '2', ...(contentType ? { 'content-type': contentType } : {}) } });

describe('pipeline step: media type', () => {
  it('refuses a non-JSON body to an operation that takes one with 415', () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      expect(() => checkMediaType(withBody(type), { hasBody: true })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body as application/json' }));
    }
  });

  it('accepts JSON and +json types, and a chunked JSON body', () => {
    expect(() => checkMediaType(withBody('application/json; charset=utf-8'), { hasBody: true })).not.toThrow();
    expect(() => checkMediaType(withBody('application/merge-patch+json'), { hasBody: true })).not.toThrow();
    expect(() => checkMediaType(fakeRequest({ method: 'POST', headers: { 'transfer-encoding': 'chunked', 'content-type': 'application/json' } }), { hasBody: true })).not.toThrow();
  });

  it('leaves a request without body bytes, or to an operation without a body, to validation', () => {
    expect(() => checkMediaType(fakeRequest({ method: 'POST', headers: { 'content-type': 'text/plain', 'content-length': '0' } }), { hasBody: true })).not.toThrow();
    expect(() => checkMediaType(withBody('text/plain'), { hasBody: false })).not.toThrow();
  });
});
