import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema.js';
import { getToken } from './session.js';

/** An API error as the gateway reports it: `{error: {code, message}}` plus the HTTP status. */
/** One field the API named in a VALIDATION answer (`path` '' is the body itself). */
export interface ApiIssue {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Every field a VALIDATION answer named, not only the first the message quotes. */
    readonly issues: ApiIssue[] = [],
    /** A 500's id, which is also in the service's log line. */
    readonly errorId?: string,
    /** The id the gateway answered under (`x-request-id`), which every process's log line for the request carries. */
    readonly requestId?: string,
  ) {
    super(message);
  }
}

function issuesOf(details: unknown): ApiIssue[] {
  const issues = (details as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) return [];
  return issues.filter((i): i is ApiIssue => typeof i?.path === 'string' && typeof i?.message === 'string');
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
  const body = answer.error as { error?: { code?: string; message?: string; details?: unknown; errorId?: string } } | undefined;
  throw new ApiError(
    answer.response.status,
    body?.error?.code ?? `HTTP_${answer.response.status}`,
    body?.error?.message ?? answer.response.statusText,
    issuesOf(body?.error?.details),
    body?.error?.errorId,
    answer.response.headers.get('x-request-id') ?? undefined,
  );
}
