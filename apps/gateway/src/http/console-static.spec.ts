import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { brotliCompressSync, brotliDecompressSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { serveConsole } from './console-static.js';

const appOver = (fastify: ReturnType<typeof Fastify>) => ({ getHttpAdapter: () => ({ getInstance: () => fastify }) }) as unknown as NestFastifyApplication;

describe('serveConsole', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'console-dist-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the build at /console, and index.html for a deep link under it', async () => {
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title>');
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)');
    const fastify = Fastify();
    expect(await serveConsole(appOver(fastify), dir, () => undefined)).toBe(true);
    const index = await fastify.inject({ url: '/console/' });
    expect([index.statusCode, index.body]).toEqual([200, '<!doctype html><title>console</title>']);
    expect((await fastify.inject({ url: '/console/assets/app.js' })).body).toBe('console.log(1)');
    const deep = await fastify.inject({ url: '/console/tasks/123?status=running' });
    expect([deep.statusCode, deep.headers['content-type']]).toEqual([200, 'text/html; charset=utf-8']);
    expect(deep.body).toContain('<title>console</title>');
    expect((await fastify.inject({ url: '/console' })).body).toContain('<title>console</title>');
    // a bundle that is not there (a tab from before a deploy) is 404, never the page served as its script
    const gone = await fastify.inject({ url: '/console/assets/index-0ld4a5h.js' });
    expect([gone.statusCode, gone.headers['content-type'], gone.json()]).toEqual([404, 'application/json; charset=utf-8', { error: { code: 'NOT_FOUND', message: 'not found' } }]);
    // a deep link whose last segment has a dot (a hook named `score.v2`) is still the page
    expect((await fastify.inject({ url: '/console/hooks/score.v2' })).body).toContain('<title>console</title>');
    // nothing outside /console changes
    expect((await fastify.inject({ url: '/elsewhere' })).statusCode).toBe(404);
    await fastify.close();
  });

  it('lets a browser keep a hashed build file for a year, asks again for the page, and sends the compressed forms the build wrote', async () => {
    const page = `<!doctype html><title>console</title><script src="/console/assets/index-abc123.js"></script>`;
    const bundle = `console.log(${JSON.stringify('x'.repeat(4_000))})`;
    writeFileSync(join(dir, 'index.html'), page);
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), bundle);
    writeFileSync(join(dir, 'assets', 'index-abc123.js.br'), brotliCompressSync(bundle));
    writeFileSync(join(dir, 'assets', 'index-abc123.js.gz'), gzipSync(bundle));
    const fastify = Fastify();
    await serveConsole(appOver(fastify), dir, () => undefined);

    const br = await fastify.inject({ url: '/console/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(br.statusCode).toBe(200);
    expect(br.headers).toMatchObject({ 'cache-control': 'public, max-age=31536000, immutable', 'content-encoding': 'br', vary: expect.stringContaining('accept-encoding') });
    expect(br.headers['content-type']).toMatch(/^(application|text)\/javascript/);
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(bundle);
    expect(br.rawPayload.length).toBeLessThan(bundle.length / 10);
    const gz = await fastify.inject({ url: '/console/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    const plain = await fastify.inject({ url: '/console/assets/index-abc123.js' });
    expect([plain.headers['content-encoding'], plain.body]).toEqual([undefined, bundle]);

    for (const url of ['/console/', '/console/index.html', '/console/tasks/123']) {
      const res = await fastify.inject({ url });
      expect([url, res.statusCode, res.headers['cache-control']]).toEqual([url, 200, 'no-cache']);
    }
    // asked again, the page is a 304 while it has not changed
    const etag = (await fastify.inject({ url: '/console/' })).headers.etag as string;
    expect((await fastify.inject({ url: '/console/', headers: { 'if-none-match': etag } })).statusCode).toBe(304);
    await fastify.close();
  });

  it('without a build the gateway still starts and says so once', async () => {
    const fastify = Fastify();
    const lines: string[] = [];
    expect(await serveConsole(appOver(fastify), dir, (l) => lines.push(l))).toBe(false);
    expect(lines).toEqual([expect.stringContaining('no console build')]);
    expect((await fastify.inject({ url: '/console/' })).statusCode).toBe(404);
    await fastify.close();
  });
});
