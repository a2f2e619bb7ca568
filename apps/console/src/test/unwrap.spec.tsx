import { describe, expect, it } from 'vitest';
import { ApiError, unwrap } from '../api/client.js';

const answer = (status: number, error: unknown, headers: Record<string, string> = {}) => Promise.resolve({ error, response: new Response(null, { status, headers }) });

describe('unwrap: an API answer as data, or an ApiError with all the API said', () => {
  it('keeps every issue of a VALIDATION answer and the errorId of a 500', async () => {
    const issues = [
      { path: 'agentId', message: 'Invalid UUID' },
      { path: 'name', message: 'Too small' },
    ];
    const bad = await unwrap(answer(400, { error: { code: 'VALIDATION', message: 'agentId: Invalid UUID', details: { issues } } })).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ApiError);
    expect(bad).toMatchObject({ status: 400, code: 'VALIDATION', message: 'agentId: Invalid UUID', issues });
    const boom = await unwrap(answer(500, { error: { code: 'INTERNAL', message: 'internal error', errorId: 'e-1' } })).catch((e: unknown) => e);
    expect(boom).toMatchObject({ status: 500, code: 'INTERNAL', issues: [], errorId: 'e-1' });
  });

  it('keeps the id the gateway answered under (x-request-id), and none where it said none', async () => {
    const missing = await unwrap(answer(404, { error: { code: 'NOT_FOUND', message: 'task not found' } }, { 'x-request-id': 'r-42' })).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND', requestId: 'r-42' });
    const bare = await unwrap(answer(502, 'Bad Gateway')).catch((e: unknown) => e);
    expect((bare as ApiError).requestId).toBeUndefined();
  });

  it('takes no issue it cannot read, and a body that is not the envelope as the status alone', async () => {
    const odd = await unwrap(answer(400, { error: { code: 'VALIDATION', message: 'm', details: { issues: [{ path: 1 }, 'x', null] } } })).catch((e: unknown) => e);
    expect(odd).toMatchObject({ code: 'VALIDATION', issues: [] });
    const bare = await unwrap(answer(502, 'Bad Gateway')).catch((e: unknown) => e);
    expect(bare).toMatchObject({ status: 502, code: 'HTTP_502', issues: [] });
  });
});
