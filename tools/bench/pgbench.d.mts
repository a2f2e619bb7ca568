export function pgbenchStatement(sql: string): string;
