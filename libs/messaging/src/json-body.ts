import sjson from 'secure-json-parse';
import { validationError } from '@agentplane/domain';

const PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * The one body parser of every app's HTTP server (`application/json`): the body as JSON, or VALIDATION naming the
 * body (`path: ''`) and what is wrong with it, as a NATS payload that is not JSON is. A key that would reach an
 * object's prototype (`__proto__`, or `constructor.prototype`) is refused, never read (secure-json-parse, as
 * Fastify's own parser does).
 */
export function parseJsonBody(req: { headers?: Record<string, string | string[] | undefined> } | undefined, body: Buffer, done: (err: Error | null, value?: unknown) => void): void {
  // No app decompresses a body: a gzip body read as text is only "not valid JSON", which does not say what to change.
  const encoding = req?.headers?.['content-encoding'];
  if (encoding !== undefined && String(encoding).trim().toLowerCase() !== 'identity') {
    const message = `a compressed body (Content-Encoding: ${String(encoding).slice(0, 40)}) is not accepted: send it uncompressed`;
    done(validationError([{ path: 'header.content-encoding', message }], message));
    return;
  }
  if (body.length === 0) {
    done(validationError([{ path: '', message: 'the body is empty, but its content-type is application/json' }]));
    return;
  }
  let value: unknown;
  try {
    value = sjson.parse(body, undefined, PARSE_OPTIONS);
  } catch (err) {
    const poison = err instanceof SyntaxError && /forbidden (prototype|constructor) property/.test(err.message);
    done(validationError([{ path: '', message: poison ? 'a "__proto__" or "constructor.prototype" key is not accepted' : 'the body is not valid JSON' }]));
    return;
  }
  done(null, value);
}
