import { Body, Controller, Delete, Get, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { Authenticated } from '@agentplane/auth';
import { authzContract } from '@agentplane/contracts';
import { ApiRoute } from '../http/route.js';
import { Forwarder, fields, type HttpReplyLike, type HttpRequestLike } from '../http/forwarder.js';

const c = authzContract;
/**
 * Over REST a check answers the decision alone: its revision is for the services that keep decisions over the bus
 * (DESIGN §3, the decision cache), not part of the public contract (DESIGN §11).
 */
const httpCheck = { ...c.check, reply: c.check.reply.omit({ revision: true }) };

/** DESIGN §11 authz routes; authz-proxy decides who may do what with the caller's forwarded token. */
@Controller('v1/authz')
@Authenticated()
export class AuthzHttp {
  constructor(private readonly fwd: Forwarder) {}

  @Post('check')
  @ApiRoute({ contract: httpCheck, status: 200, summary: 'May the caller (or, for a tenant admin, another subject) do this action on this resource?', input: 'body', tag: 'authz' })
  async check(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    const { allowed, reason } = await this.fwd.forward(c.check, fields(body), req, res, 200);
    return { allowed, reason };
  }

  @Post('explain')
  @ApiRoute({ contract: c.explain, status: 200, summary: 'Why the caller (or, for a tenant admin, another subject) may or may not do this action on this resource: the tuples that granted it, or what was missing', input: 'body', tag: 'authz' })
  explain(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.explain, fields(body), req, res, 200);
  }

  @Post('grants')
  @ApiRoute({
    contract: c.grant,
    status: 201,
    alsoStatus: [200],
    summary: 'Grant a subject an action on a resource (needs admin on it): 201 granted, 200 held already (`created` false)',
    input: 'body',
    tag: 'authz',
  })
  async grant(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    const reply = await this.fwd.forward(c.grant, fields(body), req, res, 201);
    if (!reply.created) res.status(200);
    return reply;
  }

  @Delete('grants')
  @ApiRoute({ contract: c.revoke, status: 204, summary: 'Revoke a grant (needs admin on the resource)', input: 'body', tag: 'authz' })
  async revoke(@Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    await this.fwd.forward(c.revoke, fields(body), req, res, 204);
  }

  @Get('grants')
  @ApiRoute({ contract: c.listGrants, status: 200, summary: 'Who holds which action on a resource by a direct grant, and who granted it when (needs admin on it)', input: 'query', tag: 'authz' })
  listGrants(@Query() query: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.listGrants, query, req, res);
  }

  @Get('grants/history')
  @ApiRoute({ contract: c.grantHistory, status: 200, summary: 'Every grant that took effect on a resource and every revocation that removed one, with who and when, newest first (needs admin on it)', input: 'query', tag: 'authz' })
  grantHistory(@Query() query: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.grantHistory, query, req, res);
  }

  @Get('lookup')
  @ApiRoute({ contract: c.lookup, status: 200, summary: 'Resources of a type the caller may act on, paginated', input: 'query', tag: 'authz' })
  lookup(@Query() query: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.lookup, query, req, res);
  }

  @Get('tenants/:tenantId/status')
  @ApiRoute({ contract: c.tenantStatus, status: 200, summary: 'The tenant\'s rollout mode, registration coverage per resource type and shadow mismatches (tenant admin)', input: 'none', tag: 'authz' })
  tenantStatus(@Param('tenantId') tenantId: string, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.tenantStatus, { tenantId }, req, res);
  }

  @Put('tenants/:tenantId/mode')
  @ApiRoute({ contract: c.setMode, status: 200, summary: 'Set the tenant\'s authz rollout mode (tenant admin)', input: 'body', tag: 'authz' })
  setMode(@Param('tenantId') tenantId: string, @Body() body: unknown, @Req() req: HttpRequestLike, @Res({ passthrough: true }) res: HttpReplyLike) {
    return this.fwd.forward(c.setMode, { ...fields(body), tenantId }, req, res);
  }
}
