import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal, RequiresScope } from '@agentplane/auth';
import { hooksContract, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { Idempotent } from '@agentplane/idempotency';
import { zodPipe } from '@agentplane/messaging';
import { AddOutputs } from './add-outputs.js';
import { CreateRelease } from './create-release.js';
import { DeployConvention } from './deploy-convention.js';
import { FinishRun } from './finish-run.js';
import { GetProvenance } from './get-provenance.js';
import { ReadCatalog } from './read-catalog.js';
import { SetLive } from './set-live.js';
import { StartRun } from './start-run.js';

const c = hooksContract;

/** `hooks.v1.*`: parse the contract, call one use case. No subject updates or deletes a release. */
@Controller()
export class HooksRpc {
  constructor(
    private readonly deploy: DeployConvention,
    private readonly catalog: ReadCatalog,
    private readonly createRelease: CreateRelease,
    private readonly setLive: SetLive,
    private readonly startRun: StartRun,
    private readonly finishRun: FinishRun,
    private readonly addOutputs: AddOutputs,
    private readonly provenance: GetProvenance,
  ) {}

  @RequiresScope('conventions:write')
  @Idempotent()
  @MessagePattern(c.deployConvention.subject)
  deployConvention(@Payload(zodPipe(c.deployConvention.request)) body: RequestOf<typeof c.deployConvention>, @CurrentPrincipal() p: Principal) {
    return this.deploy.execute(p, body);
  }

  @Authenticated()
  @MessagePattern(c.getConvention.subject)
  getConvention(@Payload(zodPipe(c.getConvention.request)) body: RequestOf<typeof c.getConvention>, @CurrentPrincipal() p: Principal) {
    return this.catalog.convention(p, body.slug);
  }

  @Authenticated()
  @MessagePattern(c.list.subject)
  list(@Payload(zodPipe(c.list.request)) body: RequestOf<typeof c.list>, @CurrentPrincipal() p: Principal) {
    return this.catalog.hooks(p, body);
  }

  @Authenticated()
  @MessagePattern(c.get.subject)
  get(@Payload(zodPipe(c.get.request)) body: RequestOf<typeof c.get>, @CurrentPrincipal() p: Principal) {
    return this.catalog.hook(p, body.name);
  }

  @Authenticated()
  @MessagePattern(c.listReleases.subject)
  listReleases(@Payload(zodPipe(c.listReleases.request)) body: RequestOf<typeof c.listReleases>, @CurrentPrincipal() p: Principal) {
    return this.catalog.releases(p, body);
  }

  @Authenticated()
  @MessagePattern(c.getRelease.subject)
  getRelease(@Payload(zodPipe(c.getRelease.request)) body: RequestOf<typeof c.getRelease>, @CurrentPrincipal() p: Principal) {
    return this.catalog.release(p, body);
  }

  @RequiresScope('hooks:write')
  @Idempotent()
  @MessagePattern(c.createRelease.subject)
  release(@Payload(zodPipe(c.createRelease.request)) body: RequestOf<typeof c.createRelease>, @CurrentPrincipal() p: Principal) {
    return this.createRelease.execute(p, body);
  }

  @RequiresScope('hooks:write')
  @Idempotent()
  @MessagePattern(c.setLive.subject)
  live(@Payload(zodPipe(c.setLive.request)) body: RequestOf<typeof c.setLive>, @CurrentPrincipal() p: Principal) {
    return this.setLive.execute(p, body);
  }

  @Authenticated()
  @MessagePattern(c.listLiveChanges.subject)
  liveChanges(@Payload(zodPipe(c.listLiveChanges.request)) body: RequestOf<typeof c.listLiveChanges>, @CurrentPrincipal() p: Principal) {
    return this.catalog.liveChanges(p, body);
  }

  @RequiresScope('hooks:write')
  @Idempotent()
  @MessagePattern(c.startRun.subject)
  start(@Payload(zodPipe(c.startRun.request)) body: RequestOf<typeof c.startRun>, @CurrentPrincipal() p: Principal) {
    return this.startRun.execute(p, body);
  }

  @RequiresScope('hooks:write')
  @Idempotent()
  @MessagePattern(c.finishRun.subject)
  finish(@Payload(zodPipe(c.finishRun.request)) body: RequestOf<typeof c.finishRun>, @CurrentPrincipal() p: Principal) {
    return this.finishRun.execute(p, body);
  }

  @RequiresScope('hooks:write')
  @Idempotent()
  @MessagePattern(c.addOutputs.subject)
  outputs(@Payload(zodPipe(c.addOutputs.request)) body: RequestOf<typeof c.addOutputs>, @CurrentPrincipal() p: Principal) {
    return this.addOutputs.execute(p, body);
  }

  @Authenticated()
  @MessagePattern(c.getProvenance.subject)
  getProvenance(@Payload(zodPipe(c.getProvenance.request)) body: RequestOf<typeof c.getProvenance>, @CurrentPrincipal() p: Principal) {
    return this.provenance.execute(p, body);
  }
}
