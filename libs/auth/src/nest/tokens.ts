/** Injection token of the AuthConfig given to AuthModule. */
export const AUTH_CONFIG = Symbol('AUTH_CONFIG');
/** Injection token of the TokenVerifier built from it. */
export const TOKEN_VERIFIER = Symbol('TOKEN_VERIFIER');
