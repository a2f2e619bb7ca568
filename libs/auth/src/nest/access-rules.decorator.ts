import 'reflect-metadata';
import type { AccessRule } from '../access.js';

export const ACCESS_RULES_METADATA = 'agentplane:access-rules';

export type AccessRuleDecorator = ClassDecorator & MethodDecorator;

function declare(rule: AccessRule): AccessRuleDecorator {
  return ((target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    const holder: object = descriptor ? (descriptor.value as object) : target;
    const existing: AccessRule[] = Reflect.getOwnMetadata(ACCESS_RULES_METADATA, holder) ?? [];
    // Public beside a requirement is a contradiction; refuse it where it is written.
    if ((rule.kind === 'public' && existing.length > 0) || existing.some((r) => r.kind === 'public')) {
      throw new Error('@Public() cannot be combined with another access rule on the same handler or class');
    }
    Reflect.defineMetadata(ACCESS_RULES_METADATA, [...existing, rule], holder);
    return descriptor;
  }) as AccessRuleDecorator;
}

/** Anyone may call; no token is read. */
export const Public = (): AccessRuleDecorator => declare({ kind: 'public' });
/** Any valid token of the tenant's principals. */
export const Authenticated = (): AccessRuleDecorator => declare({ kind: 'authenticated' });
/** A valid token carrying the scope, or the `admin` role. */
export const RequiresScope = (scope: string): AccessRuleDecorator => declare({ kind: 'scope', scope });
/** A valid token carrying the role. */
export const RequiresRole = (role: string): AccessRuleDecorator => declare({ kind: 'role', role });

/** The rules of a handler: its own if it declares any, else its controller's; undefined when neither does. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function accessRulesOf(handler: Function, controller: Function): AccessRule[] | undefined {
  const own: AccessRule[] | undefined = Reflect.getOwnMetadata(ACCESS_RULES_METADATA, handler);
  if (own && own.length > 0) return own;
  const inherited: AccessRule[] | undefined = Reflect.getMetadata(ACCESS_RULES_METADATA, controller);
  return inherited && inherited.length > 0 ? inherited : undefined;
}
