import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import { Authenticated } from '@agentplane/auth';
import { tasksContract } from '@agentplane/contracts';
import { ApiRoute } from '../http/route.js';
import { Forwarder, type HttpReplyLike, type HttpRequestLike } from '../http/forwarder.js';

const c = tasksContract;

@Controller('v1/agents')
export class AgentsHttp {
  constructor(private readonly fwd: Forwarder) {}

  @Authenticated()
  @Post()
  @ApiRoute({ contract: c.createAgent, status: 201, summary: 'Create an agent in the caller\'s tenant', input: 'body', tag: 'tasks' })
  create(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.createAgent, body, req, res, 201);
  }

  @Authenticated()
  @Get(':id')
  @ApiRoute({ contract: c.getAgent, status: 200, summary: 'Get an agent', input: 'none', tag: 'tasks' })
  get(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.getAgent, { id }, req, res);
  }
}
