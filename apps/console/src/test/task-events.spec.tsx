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

  it('asks again with Last-Event-ID after a 503 or a lost connection while reconnecting, within its budget', async () => {
    vi.resetModules(); // the API client keeps the fetch it was made with
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const requests: Request[] = [];
    const stream = (body: string) => new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    // a gateway restart: the stream drops, the next ask meets a 503, then the connection is refused, then it is back
    const answers: Array<() => Response> = [
      () => stream(sse([{ seq: 1, type: 'created' }, { seq: 2, type: 'claimed' }])),
      () => new Response(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'restarting' } }), { status: 503 }),
      () => {
        throw new TypeError('fetch failed');
      },
      () => stream(sse([{ seq: 3, type: 'completed' }])),
    ];
    vi.stubGlobal('fetch', async (req: Request) => {
      requests.push(req);
      return answers.shift()!();
    });
    const { followTaskEvents } = await import('../api/task-events.js');
    const seen: number[] = [];
    const states: Array<[string, string | undefined]> = [];
    let done = false;
    followTaskEvents(
      '7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11',
      (e) => seen.push(e.seq),
      (s, d) => {
        states.push([s, d]);
        if (s === 'ended' || s === 'failed') done = true;
      },
    );
    for (let i = 0; i < 100 && !done; i++) await vi.advanceTimersByTimeAsync(500);
    vi.useRealTimers();
    expect(states.at(-1)).toEqual(['ended', undefined]);
    expect(seen).toEqual([1, 2, 3]);
    expect(requests.map((r) => r.headers.get('last-event-id'))).toEqual([null, '2', '2', '2']);
    expect(states).toContainEqual(['reconnecting', 'HTTP 503 UNAVAILABLE']);
    vi.unstubAllGlobals();
  });

  it('gives up at once on a refusal (403), and after its budget on 5xx answers, then says why', async () => {
    vi.resetModules();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { MAX_FAILURES } = await import('../api/task-events.js');
    const outcome = async (status: number) => {
      vi.resetModules();
      let asked = 0;
      vi.stubGlobal('fetch', async () => {
        asked++;
        return new Response(JSON.stringify({ error: { code: `CODE_${status}`, message: 'no' } }), { status });
      });
      const { followTaskEvents } = await import('../api/task-events.js');
      let last: [string, string | undefined] | undefined;
      followTaskEvents('7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11', () => undefined, (s, d) => (last = [s, d]));
      for (let i = 0; i < 200 && last?.[0] !== 'failed'; i++) await vi.advanceTimersByTimeAsync(500);
      return { asked, last };
    };
    expect(await outcome(403)).toEqual({ asked: 1, last: ['failed', 'HTTP 403 CODE_403'] });
    expect(await outcome(502)).toEqual({ asked: MAX_FAILURES + 1, last: ['failed', 'HTTP 502 CODE_502'] });
    vi.useRealTimers();
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
