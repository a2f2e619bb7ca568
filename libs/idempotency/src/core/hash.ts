import { createHash } from 'node:crypto';
import canonicalizeCjs from 'canonicalize';

// A CommonJS package whose typings declare an ES default export: at runtime the default import is the function itself.
const canonicalize = canonicalizeCjs as unknown as (input: unknown) => string | undefined;

/**
 * SHA-256 (hex) of the RFC 8785 canonical JSON of `{subject, payload}`: the same request in any key order hashes
 * the same; the same body sent to another subject does not. Undefined when the payload is not JSON.
 */
export function payloadHash(subject: string, payload: unknown): string | undefined {
  let text: string | undefined;
  try {
    // Checked alone first: inside an object a non-JSON value (undefined, a symbol) would silently vanish.
    if (canonicalize(payload) === undefined) return undefined;
    text = canonicalize({ subject, payload });
  } catch {
    return undefined; // NaN, Infinity: not a JSON request
  }
  return text === undefined ? undefined : createHash('sha256').update(text).digest('hex');
}
