import { Body, Controller, Delete, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import { Authenticated } from '@agentplane/auth';
import { MAX_INT4, tasksContract } from '@agentplane/contracts';
import { ApiRoute } from '../http/route.js';
import { DomainError } from '@agentplane/domain';
import { Forwarder, fields, type HttpReplyLike, type HttpRequestLike } from '../http/forwarder.js';
import { TaskEventStream, type StreamReply } from '../http/task-event-stream.js';

const c = tasksContract;
const tag = 'tasks';
/** A `Last-Event-ID` this route's streams send: a task event's seq. */
const SEQ = /^\d{1,10}$/;

/** DESIGN §11 tasks routes; each forwards to `tasks.v1.*`, where authz decides per task. */
@Controller('v1/tasks')
@Authenticated()
export class TasksHttp {
  constructor(
    private readonly fwd: Forwarder,
    private readonly stream: TaskEventStream,
  ) {}

  @Post()
  @ApiRoute({ contract: c.create, status: 201, summary: 'Create a task (`write` on the agent)', input: 'body', tag })
  create(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.create, fields(body), req, res, 201);
  }

  @Get()
  @ApiRoute({ contract: c.list, status: 200, summary: 'List the tasks you may read, newest first (keyset pagination)', input: 'query', tag })
  list(@Query() query: Record<string, unknown>, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.list, query, req, res);
  }

  @Get('by-name/:name')
  @ApiRoute({ contract: c.getByName, status: 200, summary: 'Get a task by name (`read`)', input: 'none', tag })
  getByName(@Param('name') name: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.getByName, { name }, req, res);
  }

  @Get(':id')
  @ApiRoute({ contract: c.get, status: 200, summary: 'Get a task (`read`); with `waitMs` (≤ 30000) the answer comes once the task is terminal or the wait ends', input: 'query', tag })
  get(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.get, { ...fields(query), id }, req, res);
  }

  @Get(':id/events')
  @ApiRoute({
    contract: c.listEvents,
    status: 200,
    summary:
      'A task\'s history (`read`), oldest first, in pages after a sequence number; with `Accept: text/event-stream`, Server-Sent Events from `Last-Event-ID` (or `after`), live until the task ends',
    input: 'query',
    tag,
    eventStream: true,
  })
  async events(@Param('id') id: string, @Query() query: Record<string, unknown>, @Req() req: HttpRequestLike, @Res() res: StreamReply & { send(body: unknown): unknown }) {
    const accept = req.headers.accept;
    if ((Array.isArray(accept) ? accept.join(',') : (accept ?? '')).includes('text/event-stream')) {
      // An event id this stream sent (a seq) resumes after it; an empty one is none (the SSE spec), `after` decides.
      const header = req.headers['last-event-id'];
      const lastEventId = (Array.isArray(header) ? header[0] : header)?.trim();
      if (lastEventId && (!SEQ.test(lastEventId) || Number(lastEventId) > MAX_INT4)) {
        throw new DomainError('VALIDATION', 'Last-Event-ID must be the id of an event of this stream (a sequence number)', {
          issues: [{ path: 'header.last-event-id', message: `must be an integer from 0 to ${MAX_INT4}` }],
        });
      }
      // the first page checks either one with the contract, as it checks `after` on every read of the history
      return this.stream.stream(id, lastEventId || (query.after ?? 0), req, res);
    }
    res.send(await this.fwd.forward(c.listEvents, { ...fields(query), id }, req, res));
  }

  @Post(':id/heartbeat')
  @ApiRoute({ contract: c.heartbeat, status: 200, summary: 'Extend the lease of the current attempt and store its progress (`execute`); 409 `lease_lost` for another token', input: 'body', tag })
  heartbeat(@Param('id') id: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.heartbeat, { ...fields(body), id }, req, res);
  }

  @Post(':id/complete')
  @ApiRoute({ contract: c.complete, status: 200, summary: 'Complete the current attempt with its result (`execute`); 409 `lease_lost` for another token', input: 'body', tag })
  complete(@Param('id') id: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.complete, { ...fields(body), id }, req, res);
  }

  @Post(':id/fail')
  @ApiRoute({ contract: c.fail, status: 200, summary: 'Fail the current attempt (`execute`): retried after a backoff while attempts remain and the error is retryable; 409 `lease_lost` for another token', input: 'body', tag })
  fail(@Param('id') id: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.fail, { ...fields(body), id }, req, res);
  }

  @Post(':id/cancel')
  @ApiRoute({ contract: c.cancel, status: 200, summary: 'Cancel a task (`cancel`; 409 when already terminal)', input: 'none', tag })
  cancel(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.cancel, { id }, req, res);
  }

  @Delete('by-name/:name')
  @ApiRoute({ contract: c.delete, status: 204, summary: 'Delete a task by name (`delete`)', input: 'none', tag })
  async deleteByName(@Param('name') name: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    await this.fwd.forward(c.delete, { name }, req, res, 204);
  }

  @Delete(':id')
  @ApiRoute({ contract: c.delete, status: 204, summary: 'Delete a task (`delete`)', input: 'none', tag })
  async delete(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    await this.fwd.forward(c.delete, { id }, req, res, 204);
  }
}
