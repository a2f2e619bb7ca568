import { Body, Controller, Get, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { Authenticated } from '@agentplane/auth';
import { hooksContract } from '@agentplane/contracts';
import { ApiRoute } from '../http/route.js';
import { Forwarder, fields, type HttpReplyLike, type HttpRequestLike } from '../http/forwarder.js';

const c = hooksContract;
/** Adding outputs names the run `{id}` in its path; its contract, `runId`. */
const OUTPUTS_PATH = { id: 'runId' } as const;

/**
 * DESIGN §11 hook registry routes. hook-registry checks the scopes (conventions:write, hooks:write) on the forwarded
 * token. No route updates or deletes a release: PUT/PATCH/DELETE on a release URL is 404.
 */
@Controller('v1')
@Authenticated()
export class HooksHttp {
  constructor(private readonly fwd: Forwarder) {}

  @Post('conventions')
  @ApiRoute({ contract: c.deployConvention, status: 201, alsoStatus: [200], summary: 'Deploy a convention and its hooks in one transaction (conventions:write); 200 when identical', input: 'body', tag: 'hooks' })
  async deploy(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    const reply = await this.fwd.forward(c.deployConvention, fields(body), req, res, 201);
    if (!reply.changed) res.status(200);
    return reply;
  }

  @Get('conventions/:slug')
  @ApiRoute({ contract: c.getConvention, status: 200, summary: 'Get a convention', input: 'none', tag: 'hooks' })
  convention(@Param('slug') slug: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.getConvention, { slug }, req, res);
  }

  @Get('hooks')
  @ApiRoute({ contract: c.list, status: 200, summary: 'The tenant\'s hooks with their live version, paginated', input: 'query', tag: 'hooks' })
  list(@Query() query: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.list, query, req, res);
  }

  @Get('hooks/:name')
  @ApiRoute({ contract: c.get, status: 200, summary: 'Get a hook with its live version', input: 'none', tag: 'hooks' })
  get(@Param('name') name: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.get, { name }, req, res);
  }

  @Get('hooks/:name/releases')
  @ApiRoute({ contract: c.listReleases, status: 200, summary: 'A hook\'s releases, newest first, paginated', input: 'query', tag: 'hooks' })
  releases(@Param('name') name: string, @Query() query: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.listReleases, { ...fields(query), name }, req, res);
  }

  @Get('hooks/:name/releases/:version')
  @ApiRoute({ contract: c.getRelease, status: 200, summary: 'Get one release of a hook by version', input: 'none', tag: 'hooks' })
  release(@Param('name') name: string, @Param('version') version: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.getRelease, { name, version }, req, res);
  }

  @Post('hooks/:name/releases')
  @ApiRoute({ contract: c.createRelease, status: 201, alsoStatus: [200], summary: 'Release an image digest (hooks:write): 201 new version (live), 200 digest already released', input: 'body', tag: 'hooks' })
  async createRelease(@Param('name') name: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    const reply = await this.fwd.forward(c.createRelease, { ...fields(body), name }, req, res, 201);
    if (!reply.created) res.status(200);
    return reply;
  }

  @Put('hooks/:name/live')
  @ApiRoute({ contract: c.setLive, status: 200, summary: 'Move the live pointer to an existing version (hooks:write); audited. `changed: false`: that version was live already', input: 'body', tag: 'hooks' })
  setLive(@Param('name') name: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.setLive, { ...fields(body), name }, req, res);
  }

  @Get('hooks/:name/live-changes')
  @ApiRoute({ contract: c.listLiveChanges, status: 200, summary: 'Who moved the live pointer, from which version to which, when (newest first)', input: 'query', tag: 'hooks' })
  liveChanges(@Param('name') name: string, @Query() query: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.listLiveChanges, { ...fields(query), name }, req, res);
  }

  @Post('hooks/:name/runs')
  @ApiRoute({ contract: c.startRun, status: 201, summary: 'Start a run on the live release, snapshotted (hooks:write)', input: 'none', tag: 'hooks' })
  startRun(@Param('name') name: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.startRun, { name }, req, res, 201);
  }

  @Post('runs/:id/finish')
  @ApiRoute({ contract: c.finishRun, status: 200, summary: 'Finish a run: status, duration, OOM retries (hooks:write)', input: 'body', tag: 'hooks' })
  finishRun(@Param('id') id: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.finishRun, { ...fields(body), id }, req, res);
  }

  @Post('runs/:id/outputs')
  @ApiRoute({ contract: c.addOutputs, status: 201, summary: 'Add output rows to a running run (hooks:write)', input: 'body', tag: 'hooks', pathFields: OUTPUTS_PATH })
  addOutputs(@Param('id') id: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.addOutputs, { ...fields(body), runId: id }, req, res, 201, { pathFields: OUTPUTS_PATH });
  }

  @Get('outputs/:id/provenance')
  @ApiRoute({ contract: c.getProvenance, status: 200, summary: 'output → run → release (version, digest, config, source ref, built by) → hook', input: 'none', tag: 'hooks' })
  provenance(@Param('id') id: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.getProvenance, { id }, req, res);
  }
}
