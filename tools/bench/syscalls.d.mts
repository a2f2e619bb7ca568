export interface KernelCounters {
  reads: number;
  writes: number;
  switches: number;
}
export function parseProcIo(text: string): { reads: number; writes: number };
export function parseVoluntarySwitches(text: string): number;
export function kernelCounters(pid: number | string): KernelCounters | undefined;
export function countersPerRequest(
  before: Map<string, KernelCounters | undefined>,
  after: Map<string, KernelCounters | undefined>,
  requests: number,
): KernelCounters;
export function parsePerfTraceSummary(text: string): Record<string, number>;
