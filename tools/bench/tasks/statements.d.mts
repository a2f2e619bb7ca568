export const SAMPLE_KEYED_CREATE_SQL: string;
export function tasksStatements(opts: { sample: Record<string, unknown>; tenantId: string; agentId: string; floorTaskId: string }): Promise<{ floor: string; create: string }>;
