import { DomainError, hasScope, type Principal } from '@agentplane/domain';

/** What a handler requires of its caller. Every handler declares at least one (see AccessRuleAuditor). */
export type AccessRule =
  | { kind: 'public' }
  | { kind: 'authenticated' }
  | { kind: 'scope'; scope: string }
  | { kind: 'role'; role: string };

export function isPublic(rules: readonly AccessRule[]): boolean {
  return rules.some((r) => r.kind === 'public');
}

/** Every rule must pass; a scope passes on the scope or the `admin` role (DESIGN §2). */
export function assertAccess(principal: Principal, rules: readonly AccessRule[]): void {
  for (const rule of rules) {
    switch (rule.kind) {
      case 'public':
      case 'authenticated':
        break;
      case 'scope':
        if (!hasScope(principal, rule.scope)) throw new DomainError('FORBIDDEN', `requires scope ${rule.scope}`, { scope: rule.scope });
        break;
      case 'role':
        if (!principal.roles.includes(rule.role)) throw new DomainError('FORBIDDEN', `requires role ${rule.role}`, { role: rule.role });
        break;
    }
  }
}

/** The token of an `Authorization: Bearer <token>` header value; undefined when absent or another scheme. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^\s*Bearer +([^\s]+)\s*$/i.exec(header);
  return match?.[1];
}
