export function lastJson(lines: string[]): Record<string, unknown> | undefined;
export function fmtValue(v: number | undefined, ok?: ((v: number) => boolean) | null): string;
