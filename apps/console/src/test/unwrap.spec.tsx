import { describe, expect, it } from 'vitest';
import { ApiError, unwrap } from '../api/client.js';

const answer = (status: number, error: unknown) => Promise.resolve({ error, response: new Response(null, { status }) });

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

  it('takes no issue it cannot read, and a body that is not the envelope as the status alone', async () => {
    const odd = await unwrap(answer(400, { error: { code: 'VALIDATION', message: 'm', details: { issues: [{ path: 1 }, 'x', null] } } })).catch((e: unknown) => e);
    expect(odd).toMatchObject({ code: 'VALIDATION', issues: [] });
    const bare = await unwrap(answer(502, 'Bad Gateway')).catch((e: unknown) => e);
    expect(bare).toMatchObject({ status: 502, code: 'HTTP_502', issues: [] });
  });
});
