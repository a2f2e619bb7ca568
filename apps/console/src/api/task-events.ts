import { api, unwrap } from './client.js';
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

/** Failed tries in a row (a lost connection, a 5xx) after which the stream gives up and the page polls instead. */
export const MAX_FAILURES = 5;

/** An answer no retry changes: a 4xx other than a timeout or too many requests. */
const isFinalRefusal = (status: number): boolean => status >= 400 && status < 500 && status !== 408 && status !== 429;

/**
 * Follows a task's events over SSE (`GET /v1/tasks/{id}/events`, `Accept: text/event-stream`), resuming with
 * `Last-Event-ID` after a drop or a 5xx (up to MAX_FAILURES in a row), until the terminal event, the task's deletion or
 * a 4xx. Returns a stop function.
 */
export function followTaskEvents(id: string, onEvent: (e: TaskEvent) => void, onState: (s: StreamState, detail?: string) => void): () => void {
  const abort = new AbortController();
  let lastSeq = 0;
  let failures = 0;
  let lastError: string | undefined;
  const run = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      if (failures === 0) onState(lastSeq === 0 ? 'connecting' : 'live');
      let ended = false;
      try {
        const { response, error } = await api.GET('/v1/tasks/{id}/events', {
          params: { path: { id } },
          headers: { accept: 'text/event-stream', ...(lastSeq > 0 ? { 'last-event-id': String(lastSeq) } : {}) },
          parseAs: 'stream',
          signal: abort.signal,
        });
        if (!response.ok || !response.body) {
          const code = (error as { error?: { code?: unknown } } | undefined)?.error?.code;
          const detail = `HTTP ${response.status}${typeof code === 'string' ? ` ${code}` : ''}`;
          // a refusal (bad request, signed out, forbidden, gone) is the same on every try; anything else (a 5xx while
          // the gateway restarts, a 429) is asked again with Last-Event-ID, within the budget
          if (isFinalRefusal(response.status)) {
            onState('failed', detail);
            return;
          }
          throw new Error(detail);
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
        lastError = err instanceof Error ? err.message : String(err);
        if (failures > MAX_FAILURES) {
          onState('failed', lastError);
          return;
        }
        // said at once, not after the wait: the page reads the history and polls the task meanwhile
        onState('reconnecting', lastError);
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

/** How many events one read of the JSON history takes at most; the next read goes on after them. */
const HISTORY_READ_CAP = 2_000;

/**
 * A task's events after `after`, as JSON pages (`GET /v1/tasks/{id}/events?after=N`, `nextAfter`): the history when
 * the stream cannot be had. At most HISTORY_READ_CAP events a call, oldest first.
 */
export async function readTaskEvents(id: string, after: number): Promise<TaskEvent[]> {
  const items: TaskEvent[] = [];
  for (let from: number | null = after; from !== null && items.length < HISTORY_READ_CAP; ) {
    // asked as JSON: the answer is a page, never the event-stream text the same route can give
    const page = (await unwrap(
      api.GET('/v1/tasks/{id}/events', { params: { path: { id }, query: { after: from, limit: 500 } }, headers: { accept: 'application/json' } }),
    )) as EventsPage;
    items.push(...page.items);
    from = page.nextAfter;
  }
  return items;
}
