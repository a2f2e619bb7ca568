import { describe, expect, it } from 'vitest';
import { sseMessages } from '../api/task-events.js';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

describe('sseMessages', () => {
  it('reassembles events split across chunks and skips comments and retry lines', async () => {
    const out = [];
    for await (const m of sseMessages(streamOf(['retry: 1000\n\n: keep-alive\n\nid: 1\nevent: created\nda', 'ta: {"seq":1}\n\nid: 2\nevent: claimed\ndata: {"seq":2}\n\n'])))
      out.push(m);
    expect(out).toEqual([
      { id: '1', event: 'created', data: '{"seq":1}' },
      { id: '2', event: 'claimed', data: '{"seq":2}' },
    ]);
  });
});
