import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';
import { fetchMetrics, metricValue, readMetric } from './metrics-text.js';

describe('metricValue', () => {
  const text = [
    '# HELP requests_total Requests.',
    '# TYPE requests_total counter',
    'requests_total{subject="a.b",outcome="ok"} 3',
    'requests_total{subject="a.b",outcome="error"} 2',
    'requests_total{subject="a.c",outcome="ok"} 5',
    'requests_total_extra{subject="a.b",outcome="ok"} 100',
    'plain 7',
    'with_time{x="1"} 4 1712345678000',
    'odd{path="say \\"hi\\", then\\\\go"} 11',
    'inf_bucket{le="+Inf"} +Inf',
  ].join('\n');

  it('sums the samples of a name whose labels include every pair asked for', () => {
    expect(metricValue(text, 'requests_total')).toBe(10);
    expect(metricValue(text, 'requests_total', { subject: 'a.b' })).toBe(5);
    expect(metricValue(text, 'requests_total', { subject: 'a.b', outcome: 'ok' })).toBe(3);
    expect(metricValue(text, 'requests_total', { outcome: 'ok' })).toBe(8);
  });

  it('matches a name and a label value whole, not by prefix or substring', () => {
    expect(metricValue(text, 'requests')).toBe(0);
    expect(metricValue(text, 'requests_total', { subject: 'a' })).toBe(0);
    expect(metricValue(text, 'requests_total', { subjec: 'a.b' })).toBe(0);
  });

  it('reads samples without labels, with a timestamp, with escaped label values, and +Inf', () => {
    expect(metricValue(text, 'plain')).toBe(7);
    expect(metricValue(text, 'with_time', { x: '1' })).toBe(4);
    expect(metricValue(text, 'odd', { path: 'say "hi", then\\go' })).toBe(11);
    expect(metricValue(text, 'inf_bucket', { le: '+Inf' })).toBe(Infinity);
  });

  it('is 0 for a metric that is not there', () => {
    expect(metricValue(text, 'absent_total', { a: 'b' })).toBe(0);
    expect(metricValue('', 'plain')).toBe(0);
  });

  it("reads what prom-client writes, a histogram's parts by their own names", async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'c_total', help: 'c', labelNames: ['kind'], registers: [registry] });
    const h = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['kind'], buckets: [0.1, 1], registers: [registry] });
    c.inc({ kind: 'x' }, 2);
    c.inc({ kind: 'y' });
    h.observe({ kind: 'x' }, 0.05);
    h.observe({ kind: 'x' }, 0.5);
    registry.setDefaultLabels({ service: 'tasks' });
    const exposed = await registry.metrics();
    expect(metricValue(exposed, 'c_total')).toBe(3);
    expect(metricValue(exposed, 'c_total', { kind: 'x', service: 'tasks' })).toBe(2);
    expect(metricValue(exposed, 'h_seconds_count', { kind: 'x' })).toBe(2);
    expect(metricValue(exposed, 'h_seconds_sum', { kind: 'x' })).toBeCloseTo(0.55);
    expect(metricValue(exposed, 'h_seconds_bucket', { kind: 'x', le: '0.1' })).toBe(1);
    expect(metricValue(exposed, 'h_seconds_bucket', { kind: 'x', le: '+Inf' })).toBe(2);
  });
});

describe('readMetric and fetchMetrics', () => {
  let server: Server;
  let status = 200;
  let url: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? status : 404, { 'content-type': 'text/plain' });
      res.end('up{service="tasks"} 1\nup{service="gateway"} 1\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("reads a metric from a process's /metrics", async () => {
    status = 200;
    expect(await readMetric(url, 'up')).toBe(2);
    expect(await readMetric(url, 'up', { service: 'tasks' })).toBe(1);
    expect(metricValue(await fetchMetrics(url), 'up', { service: 'gateway' })).toBe(1);
  });

  it('throws, naming the address and the status, when /metrics does not answer 200', async () => {
    status = 503;
    await expect(fetchMetrics(url)).rejects.toThrow(`${url}/metrics answered 503`);
    await expect(readMetric(url, 'up')).rejects.toThrow('answered 503');
  });
});
