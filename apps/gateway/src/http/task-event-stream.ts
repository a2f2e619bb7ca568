import type { ServerResponse } from 'node:http';
import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { HEADERS, TERMINAL_TASK_STATUSES, tasksContract, type ReplyOf } from '@agentplane/contracts';
import { Forwarder, requestIdOf, type HttpReplyLike, type HttpRequestLike } from './forwarder.js';

/** The part of Fastify's reply a stream needs: take the response over from the framework and write to it. */
export interface StreamReply extends HttpReplyLike {
  hijack(): void;
  raw: ServerResponse;
  /** What the framework would have sent: the request id and every reply's headers (the app's `onRequest` hook). */
  getHeaders(): Record<string, number | string | string[] | undefined>;
}

/** How long one page waits for the next event; the stream then sends a keep-alive comment and asks again. */
const PAGE_WAIT_MS = 10_000;

const TERMINAL = new Set<string>(TERMINAL_TASK_STATUSES);

/**
 * `GET /v1/tasks/{id}/events` with `Accept: text/event-stream` (DESIGN §4.1): the history after `Last-Event-ID` (or
 * `?after`), then live events as they commit, closing once the task is terminal and its history is sent. Each event is
 * `id: <seq>`, `event: <type>`, `data: <the event's JSON>`, so a client that reconnects with `Last-Event-ID` resumes
 * exactly after what it saw. It rides on `tasks.v1.list_events` with `waitMs`, a long-poll the tasks service answers
 * at the commit of the task's next event; access is decided there on every page, with the caller's token.
 */
@Injectable()
export class TaskEventStream implements BeforeApplicationShutdown {
  private readonly logger = new Logger('TaskEventStream');
  /** Ends each open stream (the gateway stops). */
  private readonly open = new Set<() => void>();
  private stopping = false;

  constructor(private readonly fwd: Forwarder) {}

  /**
   * The gateway stops: every open stream ends now, before the HTTP server waits for its requests, so a stream (which
   * lives as long as its task) never holds a deploy up. A client reconnects with `Last-Event-ID`, to another gateway,
   * and misses nothing; EventSource does so by itself after the stream's `retry`. A stream that starts meanwhile ends
   * after its first page.
   */
  beforeApplicationShutdown(): void {
    this.stopping = true;
    for (const end of this.open) end();
  }

  /** `from`: the seq to resume after, as the caller gave it; the first page checks it with the contract. */
  async stream(id: string, from: unknown, req: HttpRequestLike, reply: StreamReply): Promise<void> {
    // The query may give `after` and nothing else; a page asks after the last event sent, whatever the query said (a
    // reconnect repeats the URL with a later Last-Event-ID, which wins).
    const query = (req.query ?? {}) as Record<string, unknown>;
    const queryTaken = Object.hasOwn(query, 'after') ? { after: query.after } : {};
    const page = (a: unknown, waitMs: number) => this.fwd.forward(tasksContract.listEvents, { id, after: a, limit: 100, waitMs }, req, reply, 200, { queryTaken });
    // The first page before any byte is written: a 404, 401 or 400 is still an ordinary JSON error.
    let current: ReplyOf<typeof tasksContract.listEvents> = await page(from, 0);
    // the contract took it, so it reads as the number it coerced it to
    let after = Number(from);
    reply.hijack();
    const res = reply.raw;
    let closed = false;
    res.on('close', () => (closed = true));
    let unblock: (() => void) | undefined;
    const end = () => {
      closed = true;
      res.end();
      unblock?.();
      // a reader that takes no more bytes must not hold the stop up either
      setTimeout(() => res.destroy(), 2_000).unref();
    };
    this.open.add(end);
    /**
     * Writes a chunk; when the socket's buffer is full, waits for it to drain (or the client to go) before the next
     * page is read, so a slow reader of a long history holds one page in memory, not all of it.
     */
    const send = async (chunk: string) => {
      if (closed || res.write(chunk)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          unblock = undefined;
          resolve();
        };
        unblock = done;
        res.on('drain', done);
        res.on('close', done);
      });
    };
    // The head is written here, not by the framework: with the headers it would have sent (every reply's: no-store,
    // nosniff, DENY) and the request id its other replies carry.
    res.writeHead(200, {
      ...reply.getHeaders(),
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      [HEADERS.requestId]: requestIdOf(req),
    });
    if (req.method === 'HEAD') {
      // a stream's head and no body: Node drops what a HEAD writes, so the loop would hold it until the task ends
      this.open.delete(end);
      res.end();
      return;
    }
    await send('retry: 1000\n\n');
    try {
      for (;;) {
        for (const e of current.items) {
          await send(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
          after = e.seq;
        }
        if (closed || this.stopping || (current.nextAfter === null && TERMINAL.has(current.status))) break;
        if (current.items.length === 0) await send(': keep-alive\n\n');
        current = await page(after, current.nextAfter === null ? PAGE_WAIT_MS : 0);
      }
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.logger.warn({ taskId: id, code, err: err instanceof Error ? err.message : String(err) }, 'task event stream ended by an error');
      if (!closed) res.write(`event: error\ndata: ${JSON.stringify({ code: typeof code === 'string' ? code : 'INTERNAL' })}\n\n`);
    } finally {
      this.open.delete(end);
      res.end();
    }
  }
}
