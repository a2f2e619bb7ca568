import { api } from './client.js';
import type { components, paths } from './schema.js';

type EventsPage = paths['/v1/tasks/{id}/events']['get']['responses']['200']['content']['application/json'];
export type TaskEvent = EventsPage['items'][number];
export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';
export const TERMINAL = ['completed', 'failed', 'canceled'] as const;
export type ApiErrorBody = components['schemas']['Error'];

/** Splits a Server-Sent Events byte stream into `{id, event, data}` messages. */
export async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<{ id?: string; event?: string; data: string }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const msg: { id?: string; event?: string; data: string } = { data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'id') msg.id = val;
        else if (field === 'event') msg.event = val;
        else if (field === 'data') msg.data += (msg.data ? '\n' : '') + val;
      }
      if (msg.data) yield msg;
    }
  }
}

/** The `code` of an SSE `error` event's data (`{"code":…}`), if it has one. */
function errorCode(data: string): string | undefined {
  try {
    const code = (JSON.parse(data) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows a task's events over SSE (`GET /v1/tasks/{id}/events`, `Accept: text/event-stream`), resuming with
 * `Last-Event-ID` after a drop, until the terminal event or the task's deletion. Returns a stop function.
 */
export function followTaskEvents(id: string, onEvent: (e: TaskEvent) => void, onState: (s: StreamState, detail?: string) => void): () => void {
  const abort = new AbortController();
  let lastSeq = 0;
  let failures = 0;
  const run = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      onState(lastSeq === 0 && failures === 0 ? 'connecting' : failures > 0 ? 'reconnecting' : 'live');
      let ended = false;
      try {
        const { response } = await api.GET('/v1/tasks/{id}/events', {
          params: { path: { id } },
          headers: { accept: 'text/event-stream', ...(lastSeq > 0 ? { 'last-event-id': String(lastSeq) } : {}) },
          parseAs: 'stream',
          signal: abort.signal,
        });
        if (!response.ok || !response.body) {
          onState('failed', `HTTP ${response.status}`);
          return;
        }
        onState('live');
        failures = 0;
        for await (const msg of sseMessages(response.body)) {
          if (msg.event === 'error') {
            // the task was deleted (or may no longer be read) while followed: nothing to reconnect to
            if (errorCode(msg.data) === 'NOT_FOUND') {
              onState('failed', 'the task is gone: deleted, or no longer visible to you');
              return;
            }
            // the token expired while followed (a stream never outlives it): a reconnect with it would be refused too;
            // the page's next read meets the 401 and ends the session
            if (errorCode(msg.data) === 'UNAUTHENTICATED') {
              onState('failed', 'your sign-in expired');
              return;
            }
            throw new Error(msg.data);
          }
          const e = JSON.parse(msg.data) as TaskEvent;
          lastSeq = e.seq;
          onEvent(e);
          if ((TERMINAL as readonly string[]).includes(e.type)) ended = true;
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        failures += 1;
        if (failures > 5) {
          onState('failed', err instanceof Error ? err.message : String(err));
          return;
        }
      }
      if (ended) {
        onState('ended');
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** failures, 10_000)));
    }
  };
  void run();
  return () => abort.abort();
}
