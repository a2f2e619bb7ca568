import { Module, type DynamicModule, type InjectionToken, type ModuleMetadata, type OptionalFactoryDependency } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import type { AuthConfig } from '../config.js';
import { createTokenVerifier } from '../verifier.js';
import { AccessGuard } from './access.guard.js';
import { AccessRuleAuditor } from './access-rule.auditor.js';
import { AUTH_CONFIG, TOKEN_VERIFIER } from './tokens.js';

export interface AuthModuleAsyncOptions {
  imports?: ModuleMetadata['imports'];
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
  useFactory: (...args: never[]) => AuthConfig | Promise<AuthConfig>;
}

/**
 * Token verification, the global AccessGuard (HTTP and NATS; it also names the caller of the request scope the NATS
 * server opens, see `currentRequestContext()`) and the start-up audit of access rules.
 * Hybrid apps: connect the microservice with `{ inheritAppConfig: true }` so the guard covers NATS too.
 */
@Module({})
export class AuthModule {
  static forRoot(config: AuthConfig): DynamicModule {
    return AuthModule.build([{ provide: AUTH_CONFIG, useValue: config }], []);
  }

  static forRootAsync(options: AuthModuleAsyncOptions): DynamicModule {
    return AuthModule.build(
      [{ provide: AUTH_CONFIG, useFactory: options.useFactory as (...args: unknown[]) => unknown, inject: options.inject ?? [] }],
      options.imports ?? [],
    );
  }

  private static build(configProviders: NonNullable<ModuleMetadata['providers']>, imports: NonNullable<ModuleMetadata['imports']>): DynamicModule {
    return {
      module: AuthModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers: [
        ...configProviders,
        { provide: TOKEN_VERIFIER, useFactory: createTokenVerifier, inject: [AUTH_CONFIG] },
        AccessGuard,
        { provide: APP_GUARD, useExisting: AccessGuard },
        AccessRuleAuditor,
      ],
      exports: [AUTH_CONFIG, TOKEN_VERIFIER, AccessGuard],
    };
  }
}
