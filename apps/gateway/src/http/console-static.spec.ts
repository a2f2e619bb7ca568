import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

  it('without a build the gateway still starts and says so once', async () => {
    const fastify = Fastify();
    const lines: string[] = [];
    expect(await serveConsole(appOver(fastify), dir, (l) => lines.push(l))).toBe(false);
    expect(lines).toEqual([expect.stringContaining('no console build')]);
    expect((await fastify.inject({ url: '/console/' })).statusCode).toBe(404);
    await fastify.close();
  });
});
