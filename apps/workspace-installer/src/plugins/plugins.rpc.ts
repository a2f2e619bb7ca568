import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { workspacesContract, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { Idempotent } from '@agentplane/idempotency';
import { zodPipe } from '@agentplane/messaging';
import { DisablePlugin } from './disable-plugin.js';
import { EnablePlugin } from './enable-plugin.js';
import { ListPluginChanges } from './list-plugin-changes.js';
import { ListPlugins } from './list-plugins.js';

const c = workspacesContract;

/** Admin only, checked in the use cases after the workspace is found (another org's is NOT_FOUND, not FORBIDDEN). */
@Controller()
export class PluginsRpc {
  constructor(
    private readonly enablePlugin: EnablePlugin,
    private readonly disablePlugin: DisablePlugin,
    private readonly listPlugins: ListPlugins,
    private readonly listPluginChanges: ListPluginChanges,
  ) {}

  @Authenticated()
  @Idempotent()
  @MessagePattern(c.enablePlugin.subject)
  enable(@Payload(zodPipe(c.enablePlugin.request)) body: RequestOf<typeof c.enablePlugin>, @CurrentPrincipal() principal: Principal) {
    return this.enablePlugin.execute(principal, body);
  }

  @Authenticated()
  @Idempotent()
  @MessagePattern(c.disablePlugin.subject)
  disable(@Payload(zodPipe(c.disablePlugin.request)) body: RequestOf<typeof c.disablePlugin>, @CurrentPrincipal() principal: Principal) {
    return this.disablePlugin.execute(principal, body);
  }

  @Authenticated()
  @MessagePattern(c.listPlugins.subject)
  list(@Payload(zodPipe(c.listPlugins.request)) body: RequestOf<typeof c.listPlugins>, @CurrentPrincipal() principal: Principal) {
    return this.listPlugins.execute(principal, body);
  }

  @Authenticated()
  @MessagePattern(c.listPluginChanges.subject)
  changes(@Payload(zodPipe(c.listPluginChanges.request)) body: RequestOf<typeof c.listPluginChanges>, @CurrentPrincipal() principal: Principal) {
    return this.listPluginChanges.execute(principal, body);
  }
}
