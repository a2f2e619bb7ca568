import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Forwarder, HttpRequestLike } from './forwarder.js';
import { TaskEventStream, type StreamReply } from './task-event-stream.js';

/** A response whose socket buffer is full after every write until the test lets it drain. */
class SlowResponse extends EventEmitter {
  readonly chunks: string[] = [];
  ended = false;
  writeHead(): this {
    return this;
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return false;
  }
  end(): void {
    this.ended = true;
  }
}

const event = (seq: number) => ({ taskId: '01a24c70-9942-75ee-b057-9ab6cba03f48', seq, type: 'progress', at: '2026-12-06T00:00:00.000Z', data: {} });
const tick = () => new Promise((r) => setImmediate(r));

describe('the task event stream (SSE) under a slow reader', () => {
  it('reads the next page only once what it wrote has drained, and stops waiting when the client goes', async () => {
    const pages = [
      { items: [event(1), event(2)], nextAfter: 2, status: 'running' },
      { items: [event(3)], nextAfter: null, status: 'completed' },
    ];
    const asked: unknown[] = [];
    const fwd = { forward: async (_c: unknown, input: { after: unknown }) => (asked.push(input.after), pages.shift()) } as unknown as Forwarder;
    const raw = new SlowResponse();
    const reply = { hijack: () => undefined, raw: raw as unknown as ServerResponse, status: () => reply, header: () => reply, getHeaders: () => ({}) } as unknown as StreamReply;
    const done = new TaskEventStream(fwd).stream('01a24c70-9942-75ee-b057-9ab6cba03f48', 0, { headers: {} } as HttpRequestLike, reply);

    await tick();
    expect(asked).toEqual([0]);
    expect(raw.chunks).toEqual(['retry: 1000\n\n']);
    raw.emit('drain');
    await tick();
    // one event written, waiting for its drain: the second event is not written, the next page not asked for
    expect(raw.chunks).toHaveLength(2);
    expect(asked).toEqual([0]);
    raw.emit('drain');
    await tick();
    raw.emit('drain');
    await tick();
    expect(asked).toEqual([0, 2]);
    expect(raw.ended).toBe(false);

    // the client goes while the last page's write waits: the stream ends without another drain
    raw.emit('close');
    await done;
    expect(raw.ended).toBe(true);
    expect(raw.chunks.filter((c) => c.startsWith('id: ')).map((c) => c.split('\n')[0])).toEqual(['id: 1', 'id: 2', 'id: 3']);
  });
});
