import { Body, Controller, Delete, Get, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { Authenticated } from '@agentplane/auth';
import { workspacesContract } from '@agentplane/contracts';
import { ApiRoute } from '../http/route.js';
import { Forwarder, fields, type HttpReplyLike, type HttpRequestLike } from '../http/forwarder.js';

const c = workspacesContract;
const tag = 'workspaces';

/**
 * DESIGN §11 workspace routes. workspace-installer decides who may (members read and create; admins remove, install
 * and manage plugins; a workspace's own service account or an admin heartbeats) on the forwarded token.
 */
@Controller('v1')
@Authenticated()
export class WorkspacesHttp {
  constructor(private readonly fwd: Forwarder) {}

  @Post('workspaces')
  @ApiRoute({ contract: c.create, status: 201, summary: 'Create a workspace; without parentId it goes under the platform agent once installed, else it is a root', input: 'body', tag })
  create(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.create, fields(body), req, res, 201);
  }

  @Get('workspaces')
  @ApiRoute({ contract: c.list, status: 200, summary: 'The org\'s live workspaces, or with `status` those of one status (`removed` lists the removed ones, with who removed each and when); optionally one parent\'s children; paginated', input: 'query', tag })
  list(@Query() query: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.list, query, req, res);
  }

  @Get('workspaces/:id')
  @ApiRoute({ contract: c.get, status: 200, summary: 'Get a workspace with its status (online only with a heartbeat inside the window) and lastHeartbeatAt', input: 'none', tag })
  get(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.get, { id }, req, res);
  }

  @Delete('workspaces/:id')
  @ApiRoute({ contract: c.remove, status: 204, summary: 'Mark a workspace removed (tenant admin; refused while it has live children)', input: 'none', tag })
  async remove(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    await this.fwd.forward(c.remove, { id }, req, res, 204);
  }

  @Post('workspaces/:id/heartbeat')
  @ApiRoute({ contract: c.heartbeat, status: 200, summary: 'Mark a workspace online now (its own service account, sub = workspace id, or an admin)', input: 'none', tag })
  heartbeat(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.heartbeat, { id }, req, res);
  }

  @Get('workspaces/:id/plugins')
  @ApiRoute({ contract: c.listPlugins, status: 200, summary: 'The plugin allowlist of a root workspace with its provenance (tenant admin)', input: 'none', tag })
  plugins(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.listPlugins, { id }, req, res);
  }

  @Get('workspaces/:id/plugin-changes')
  @ApiRoute({ contract: c.listPluginChanges, status: 200, summary: 'Who enabled, disabled or moved which plugin on a workspace, and when (newest first; tenant admin)', input: 'query', tag })
  pluginChanges(@Param('id') id: string, @Query() query: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.listPluginChanges, { ...fields(query), id }, req, res);
  }

  @Put('workspaces/:id/plugins/:plugin')
  @ApiRoute({ contract: c.enablePlugin, status: 200, summary: 'Allow a plugin on a root workspace (tenant admin); the first enablement is kept', input: 'none', tag })
  enable(@Param('id') id: string, @Param('plugin') plugin: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.enablePlugin, { id, plugin }, req, res);
  }

  @Delete('workspaces/:id/plugins/:plugin')
  @ApiRoute({ contract: c.disablePlugin, status: 204, summary: 'Disallow a plugin on a root workspace (tenant admin)', input: 'none', tag })
  async disable(@Param('id') id: string, @Param('plugin') plugin: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    await this.fwd.forward(c.disablePlugin, { id, plugin }, req, res, 204);
  }

  @Post('platform-agent/install')
  @ApiRoute({
    contract: c.installPlatformAgent,
    status: 201,
    alsoStatus: [200],
    summary: 'Install the org\'s platform agent as the single root of its tree (tenant admin): 201 installed now, 200 installed already (`created` false)',
    input: 'body',
    tag,
  })
  async install(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    // `{name?}`: a POST without a body installs under the default name.
    const reply = await this.fwd.forward(c.installPlatformAgent, fields(body), req, res, 201);
    if (!reply.created) res.status(200);
    return reply;
  }
}
