import { Global, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { PrismaPg } from '@prisma/adapter-pg';
import { createPrismaClient, type PrismaOptions } from './prisma.js';
import { SqlPool } from './sql.js';

interface Disconnectable {
  $disconnect(): Promise<void>;
}

/**
 * Provides a service's own Prisma client under its class as the injection token, and `SqlPool` (raw SQL on plain
 * `pg`, for hot paths), both on one pool; disconnected at shutdown. Global: the app's repositories, its idempotency
 * store, its outbox relay and its readiness check inject them.
 */
export function prismaModule<T extends Disconnectable>(Client: new (opts: { adapter: PrismaPg }) => T, opts: PrismaOptions): DynamicModule {
  class PrismaLifecycle implements OnApplicationShutdown {
    constructor(private readonly ref: ModuleRef) {}
    async onApplicationShutdown(): Promise<void> {
      await this.ref.get(Client, { strict: false }).$disconnect();
      // Prisma leaves a pool it was given open.
      await this.ref.get(SqlPool, { strict: false }).end();
    }
  }
  @Global()
  @Module({})
  class PrismaModule {}
  return {
    module: PrismaModule,
    providers: [
      { provide: SqlPool, useFactory: () => new SqlPool({ url: opts.url, max: opts.poolMax }) },
      { provide: Client, useFactory: (sql: SqlPool) => createPrismaClient(Client, opts, sql), inject: [SqlPool] },
      { provide: PrismaLifecycle, useFactory: (ref: ModuleRef) => new PrismaLifecycle(ref), inject: [ModuleRef] },
    ],
    exports: [Client, SqlPool],
  };
}
