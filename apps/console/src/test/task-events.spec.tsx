import { describe, expect, it, vi } from 'vitest';

const sse = (events: Array<{ seq: number; type: string }>) =>
  events.map((e) => `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify({ taskId: 't', seq: e.seq, type: e.type, at: '2026-01-01T00:00:00Z', data: {} })}\n\n`).join('');

describe('followTaskEvents', () => {
  it('resumes after a dropped stream with Last-Event-ID and stops at the terminal event', async () => {
    const requests: Request[] = [];
    const bodies = ['retry: 1000\n\n' + sse([{ seq: 1, type: 'created' }, { seq: 2, type: 'claimed' }]), sse([{ seq: 3, type: 'completed' }])];
    vi.stubGlobal('fetch', async (req: Request) => {
      requests.push(req);
      return new Response(bodies.shift() ?? '', { status: 200, headers: { 'content-type': 'text/event-stream' } });
    });
    const { followTaskEvents } = await import('../api/task-events.js');
    const seen: number[] = [];
    const states: string[] = [];
    await new Promise<void>((done) => {
      followTaskEvents(
        '7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11',
        (e) => seen.push(e.seq),
        (s) => {
          states.push(s);
          if (s === 'ended') done();
        },
      );
    });
    expect(seen).toEqual([1, 2, 3]);
    expect(requests).toHaveLength(2);
    expect(new URL(requests[0]!.url).pathname).toBe('/v1/tasks/7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11/events');
    expect(requests[0]!.headers.get('accept')).toBe('text/event-stream');
    expect(requests[0]!.headers.get('last-event-id')).toBeNull();
    expect(requests[1]!.headers.get('last-event-id')).toBe('2');
    expect(states.at(-1)).toBe('ended');
    vi.unstubAllGlobals();
  });

  it.each([
    ['the task is gone (deleted while followed)', 'NOT_FOUND', 'the task is gone: deleted, or no longer visible to you'],
    ['the token expired', 'UNAUTHENTICATED', 'your sign-in expired'],
  ])('stops at once, without reconnecting, when the stream says %s', async (_why, code, detail) => {
    vi.resetModules(); // the API client keeps the fetch it was made with
    const requests: Request[] = [];
    vi.stubGlobal('fetch', async (req: Request) => {
      requests.push(req);
      return new Response(sse([{ seq: 1, type: 'created' }]) + `event: error\ndata: {"code":"${code}"}\n\n`, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    });
    const { followTaskEvents } = await import('../api/task-events.js');
    const states: Array<[string, string | undefined]> = [];
    await new Promise<void>((done) => {
      followTaskEvents(
        '7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11',
        () => undefined,
        (s, d) => {
          states.push([s, d]);
          if (s === 'failed') done();
        },
      );
    });
    expect(requests).toHaveLength(1);
    expect(states.at(-1)).toEqual(['failed', detail]);
    vi.unstubAllGlobals();
  });
});
