import { hash } from 'node:crypto';
import canonicalizeCjs from 'canonicalize';

// A CommonJS package whose typings declare an ES default export: at runtime the default import is the function itself.
const canonicalize = canonicalizeCjs as unknown as (input: unknown) => string | undefined;

/**
 * SHA-256 (hex) of the RFC 8785 canonical JSON of `{subject, payload}`: the same request in any key order hashes
 * the same; the same body sent to another subject does not. Undefined when the payload is not JSON.
 */
export function payloadHash(subject: string, payload: unknown): string | undefined {
  let body: string | undefined;
  try {
    // The payload alone: inside an object a non-JSON value (undefined, a symbol) would silently vanish.
    body = canonicalize(payload);
  } catch {
    return undefined; // NaN, Infinity: not a JSON request
  }
  if (body === undefined) return undefined;
  // Exactly canonicalize({ subject, payload }) (members sorted: "payload" < "subject"), without serialising twice.
  return hash('sha256', `{"payload":${body},"subject":${canonicalize(subject)}}`);
}
