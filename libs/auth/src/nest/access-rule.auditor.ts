import { Injectable, type OnModuleInit } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { accessRulesOf } from './access-rules.decorator.js';

/** `Controller.method` of every route or message handler that declares no access rule. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function undeclaredHandlers(controllers: Function[], scanner = new MetadataScanner()): string[] {
  const missing: string[] = [];
  for (const controller of controllers) {
    const prototype = controller.prototype as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name];
      if (typeof handler !== 'function') continue;
      const isHandler =
        Reflect.getMetadata(PATH_METADATA, handler) !== undefined ||
        Reflect.getMetadata(METHOD_METADATA, handler) !== undefined ||
        Reflect.getMetadata(PATTERN_METADATA, handler) !== undefined;
      if (isHandler && !accessRulesOf(handler, controller)) missing.push(`${controller.name}.${name}`);
    }
  }
  return missing;
}

/** Refuses to start an app with a handler that does not say who may call it. */
@Injectable()
export class AccessRuleAuditor implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    const controllers = this.discovery
      .getControllers()
      .map((wrapper) => wrapper.metatype)
      // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
      .filter((metatype): metatype is Function => typeof metatype === 'function');
    const missing = undeclaredHandlers([...new Set(controllers)], this.scanner);
    if (missing.length > 0) {
      throw new Error(
        `access rule missing on ${missing.join(', ')}: declare @Public(), @Authenticated(), @RequiresScope() or @RequiresRole()`,
      );
    }
  }
}
