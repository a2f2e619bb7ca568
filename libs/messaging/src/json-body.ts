import { isUtf8 } from 'node:buffer';
import sjson from 'secure-json-parse';
import { validationError } from '@agentplane/domain';

const PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/** Why a payload is refused: said the same over HTTP and NATS. */
const PAYLOAD_NOT_UTF8 = 'the body is not valid UTF-8 (JSON text is UTF-8)';
const PAYLOAD_NOT_JSON = 'the body is not valid JSON';
const PAYLOAD_PROTOTYPE_KEY = 'a "__proto__" or "constructor.prototype" key is not accepted';

/** A payload refused before any contract reads it (not UTF-8, not JSON, a prototype key), and why. */
export class InvalidPayload {
  constructor(readonly message: string) {}

  toError() {
    return validationError([{ path: '', message: this.message }], this.message);
  }
}

/**
 * The one reading of a JSON payload, an HTTP body or a NATS message alike: UTF-8 only (a byte that is not, decoded
 * as U+FFFD, would be stored as a character nobody sent), JSON, and no key that would reach an object's prototype
 * (`__proto__`, or `constructor.prototype`: secure-json-parse, as Fastify's own parser does).
 */
export function parseJsonPayload(bytes: Uint8Array): unknown {
  if (!isUtf8(bytes)) return new InvalidPayload(PAYLOAD_NOT_UTF8);
  try {
    return sjson.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), undefined, PARSE_OPTIONS);
  } catch (err) {
    const poison = err instanceof SyntaxError && /forbidden (prototype|constructor) property/.test(err.message);
    return new InvalidPayload(poison ? PAYLOAD_PROTOTYPE_KEY : PAYLOAD_NOT_JSON);
  }
}

/**
 * The one body parser of every app's HTTP server (`application/json`): the body as `parseJsonPayload` reads a NATS
 * message, or VALIDATION naming the body (`path: ''`) and what is wrong with it.
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
  const value = parseJsonPayload(body);
  if (value instanceof InvalidPayload) done(value.toError());
  else done(null, value);
}
