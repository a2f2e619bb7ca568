export interface LoadMicros {
  /** self time (µs) by function over the whole load */
  micros: Map<string, number>;
  requests: number;
}
export interface Comparison {
  /** busy µs per request: [base, other] */
  busy: [number, number];
  /** [function, base µs/req, other µs/req, growth], the largest growth first */
  rows: Array<[string, number, number, number]>;
}
export function compareSelf(base: LoadMicros, other: LoadMicros, top?: number): Comparison;
export function formatComparison(name: string, c: Comparison): string;
export function readProfileDir(dir: string): { requests: number; processes: Map<string, Map<string, number>> };
