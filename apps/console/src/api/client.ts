import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema.js';
import { getToken } from './session.js';

/** An API error as the gateway reports it: `{error: {code, message}}` plus the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token) request.headers.set('authorization', `Bearer ${token}`);
    return request;
  },
};

/** The only way the console talks to the gateway: paths and bodies typed from its OpenAPI document. */
export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(auth);

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Data on success; an ApiError (with the API's code and message) otherwise. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch (err) {
    throw new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err));
  }
  if (answer.response.ok) return answer.data as T;
  const body = answer.error as { error?: { code?: string; message?: string } } | undefined;
  throw new ApiError(answer.response.status, body?.error?.code ?? `HTTP_${answer.response.status}`, body?.error?.message ?? answer.response.statusText);
}
