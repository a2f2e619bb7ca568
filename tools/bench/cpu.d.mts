export interface LoadCpu {
  /** ms of CPU per request, by process */
  cpu: Record<string, number>;
  rps: number;
}
export function ratioFactors(floor: LoadCpu, create: LoadCpu): { cpu: number; cores: number } | undefined;
