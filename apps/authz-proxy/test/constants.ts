/** Seeded tenants, principals and resources of the authz tests. */
export const ACME = 'acme';
export const GLOBEX = 'globex';
/** The registering backend (a service account of each tenant). */
export const SVC = 'tasks-svc';
export const ALICE = 'alice'; // owns the agent
export const BOB = 'bob'; // creates tasks on it
export const CAROL = 'carol'; // granted things
export const DAVE = 'dave'; // no relation at all
export const ACME_ADMIN = 'acme-admin';
export const GLOBEX_ADMIN = 'globex-admin';
export const MALLORY = 'mallory'; // a globex user

export const agentRef = (n: string | number) => `agent:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
export const taskRef = (n: string | number) => `task:00000000-0000-4000-9000-${String(n).padStart(12, '0')}`;
