import { Global, Module } from '@nestjs/common';
import { RpcClient } from '@agentplane/messaging';
import { AuthzClient } from './authz-client.js';

/** Provides AuthzClient over the app's RpcClient (MessagingModule must be imported). */
@Global()
@Module({
  providers: [{ provide: AuthzClient, useFactory: (rpc: RpcClient) => new AuthzClient(rpc), inject: [RpcClient] }],
  exports: [AuthzClient],
})
export class AuthzClientModule {}
