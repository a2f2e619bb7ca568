/** A caller's request id as every process takes it: 1–128 of `[A-Za-z0-9._:-]` (no space, quote or control character). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's request id when well-formed, else undefined (the process makes its own for its log line). */
export function wellFormedRequestId(value: unknown): string | undefined {
  return typeof value === 'string' && REQUEST_ID_PATTERN.test(value) ? value : undefined;
}
