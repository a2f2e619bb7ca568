import { Body, Controller, Delete, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import { Authenticated } from '@agentplane/auth';
import { tasksContract } from '@agentplane/contracts';
import { ApiRoute } from '../http/route.js';
import { Forwarder, type HttpReplyLike, type HttpRequestLike } from '../http/forwarder.js';

const c = tasksContract;
const tag = 'tasks';

/** DESIGN §11 tasks routes; each forwards to `tasks.v1.*`, where authz decides per task. */
@Controller('v1/tasks')
@Authenticated()
export class TasksHttp {
  constructor(private readonly fwd: Forwarder) {}

  @Post()
  @ApiRoute({ contract: c.create, status: 201, summary: 'Create a task (`write` on the agent)', input: 'body', tag })
  create(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.create, body, req, res, 201);
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
  @ApiRoute({ contract: c.get, status: 200, summary: 'Get a task (`read`)', input: 'none', tag })
  get(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.get, { id }, req, res);
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
