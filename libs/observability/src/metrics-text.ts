/**
 * Reading a metric off a running process's `/metrics` (Prometheus' text format, as prom-client writes it), for the
 * tests and benches that watch a service from outside. One reader, so that they all match samples the same way.
 */

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function sampleValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

/**
 * The sum of the samples named `name` whose labels include every pair of `labels` (exactly, after unescaping), or 0
 * when none does. `name` is a sample's own name, so a histogram is read by `…_count`, `…_sum` or `…_bucket`.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels);
  let sum = 0;
  for (const line of text.split('\n')) {
    const [, sampleName, labelText = '', value = ''] = SAMPLE.exec(line.trim()) ?? [];
    if (sampleName !== name) continue;
    const have = new Map([...labelText.matchAll(LABEL)].map(([, k = '', v = '']) => [k, unescapeLabel(v)]));
    if (wanted.every(([k, v]) => have.get(k) === v)) sum += sampleValue(value);
  }
  return sum;
}

/** `metricValue` of what `${baseUrl}/metrics` answers now; throws when it does not answer 200. */
export async function readMetric(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await fetchMetrics(baseUrl), name, labels);
}

/** The text `${baseUrl}/metrics` answers now, for reading several metrics of one moment; throws unless 200. */
export async function fetchMetrics(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${baseUrl}/metrics answered ${res.status}`);
  return text;
}
