import { Global, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { PrismaPg } from '@prisma/adapter-pg';
import { createPrismaClient, type PrismaOptions } from './prisma.js';

interface Disconnectable {
  $disconnect(): Promise<void>;
}

/**
 * Provides a service's own Prisma client under its class as the injection token, disconnected at shutdown.
 * Global: the app's repositories and its readiness check inject it.
 */
export function prismaModule<T extends Disconnectable>(Client: new (opts: { adapter: PrismaPg }) => T, opts: PrismaOptions): DynamicModule {
  class PrismaLifecycle implements OnApplicationShutdown {
    constructor(private readonly ref: ModuleRef) {}
    async onApplicationShutdown(): Promise<void> {
      await this.ref.get(Client, { strict: false }).$disconnect();
    }
  }
  @Global()
  @Module({})
  class PrismaModule {}
  return {
    module: PrismaModule,
    providers: [{ provide: Client, useFactory: () => createPrismaClient(Client, opts) }, { provide: PrismaLifecycle, useFactory: (ref: ModuleRef) => new PrismaLifecycle(ref), inject: [ModuleRef] }],
    exports: [Client],
  };
}
