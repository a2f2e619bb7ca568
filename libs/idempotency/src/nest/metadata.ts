/** Where `@Idempotent()` keeps its options on a handler (read by the interceptor). */
export const IDEMPOTENT_METADATA = 'agentplane:idempotent';
