import { Body, Controller, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import { Authenticated } from '@agentplane/auth';
import { tasksContract } from '@agentplane/contracts';
import { ApiRoute } from '../http/route.js';
import { Forwarder, fields, waitBudgetMs, type HttpReplyLike, type HttpRequestLike } from '../http/forwarder.js';

const c = tasksContract;
/** The claim's path names the agent `{id}`; its contract, `agentId`. */
const CLAIM_PATH = { id: 'agentId' } as const;

@Controller('v1/agents')
export class AgentsHttp {
  constructor(private readonly fwd: Forwarder) {}

  @Authenticated()
  @Post()
  @ApiRoute({ contract: c.createAgent, status: 201, summary: 'Create an agent in the caller\'s tenant (`maxConcurrency`: running tasks at once)', input: 'body', tag: 'tasks' })
  create(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.createAgent, fields(body), req, res, 201);
  }

  @Authenticated()
  @Get()
  @ApiRoute({ contract: c.listAgents, status: 200, summary: 'List the agents you may read, by name (keyset pagination)', input: 'query', tag: 'tasks' })
  list(@Query() query: Record<string, unknown>, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.listAgents, query, req, res);
  }

  @Authenticated()
  @Get('by-name/:name')
  @ApiRoute({ contract: c.getAgentByName, status: 200, summary: 'Get an agent you may read by its name, unique in the tenant (`read`; 404 otherwise)', input: 'none', tag: 'tasks' })
  getByName(@Param('name') name: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.getAgentByName, { name }, req, res);
  }

  @Authenticated()
  @Get(':id')
  @ApiRoute({ contract: c.getAgent, status: 200, summary: 'Get an agent you may read (`read`; 404 otherwise)', input: 'none', tag: 'tasks' })
  get(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.getAgent, { id }, req, res);
  }

  @Authenticated()
  @Get(':id/stats')
  @ApiRoute({ contract: c.agentStats, status: 200, summary: 'An agent\'s queue depth by status and its oldest pending task (`read` on the agent)', input: 'none', tag: 'tasks' })
  stats(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.agentStats, { id }, req, res);
  }

  @Authenticated()
  @Post(':id/claims')
  @ApiRoute({
    contract: c.claim,
    status: 200,
    summary: 'Claim up to `max` pending tasks of the agent (`execute`), each with its lease token; `waitMs` long-polls (empty `items` when none)',
    input: 'body',
    tag: 'tasks',
    pathFields: CLAIM_PATH,
  })
  claim(@Param('id') id: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    const input = { ...fields(body), agentId: id };
    return this.fwd.forward(c.claim, input, req, res, 200, { timeoutMs: waitBudgetMs(input), pathFields: CLAIM_PATH });
  }
}
