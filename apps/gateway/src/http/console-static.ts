import { existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** What the console's pages may load and do (Vite's build: its own scripts and styles, the API on the same origin). */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Where Vite's build puts the files a page loads (its `build.assetsDir`), named by their content's hash. */
const ASSETS = 'assets';

const CONSOLE_HEADERS = { 'content-security-policy': CONSOLE_CSP, 'referrer-policy': 'no-referrer' } as const;

/**
 * A build file named by its content's hash never changes under that name: a browser keeps it for a year without asking
 * again. Anything else (index.html, which names the current bundles) is asked for again each time (an ETag makes that a
 * 304), so a deploy reaches every tab's next load.
 */
export function consoleCacheControl(dir: string, file: string): string {
  return relative(dir, file).split(sep)[0] === ASSETS ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/**
 * Serves the built operator console (apps/console/dist) at /console: files as they are, any other path under
 * /console/ (but /console/assets/) falls back to index.html so deep links load the SPA. Without a build the gateway
 * still starts.
 */
export async function serveConsole(app: NestFastifyApplication, dir: string, log: (msg: string) => void): Promise<boolean> {
  if (!existsSync(join(dir, 'index.html'))) {
    log(`gateway: no console build at ${dir} (npx nx build console); /console is not served`);
    return false;
  }
  const fastify = app.getHttpAdapter().getInstance();
  await fastify.register(
    async (scope) => {
      // the console holds an operator's token: it runs only its own files, talks only to this origin, is never framed
      // (clickjacking a bulk cancel), and sends no referrer
      scope.addHook('onRequest', (_req, reply, done) => {
        void reply.headers(CONSOLE_HEADERS);
        done();
      });
      await scope.register(fastifyStatic, {
        root: dir,
        prefix: '/',
        redirect: true,
        index: 'index.html',
        // the build writes each text file's brotli and gzip forms beside it (apps/console/scripts/precompress.mjs)
        preCompressed: true,
        cacheControl: false,
        setHeaders: (reply, file) => void reply.header('cache-control', consoleCacheControl(dir, file)),
      });
      scope.setNotFoundHandler((req, reply) => {
        // A build file that is not there is 404, not the page: a tab loaded before a deploy asks for the hashed bundle
        // the deploy replaced, and the page in its stead fails as a script ("Unexpected token '<'") with a 200.
        const missingFile = req.url.split('?', 1)[0]?.startsWith(`/console/${ASSETS}/`) === true;
        if ((req.method !== 'GET' && req.method !== 'HEAD') || missingFile) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'not found' } });
        return reply.type('text/html').header('cache-control', 'no-cache').sendFile('index.html');
      });
    },
    { prefix: '/console' },
  );
  return true;
}
