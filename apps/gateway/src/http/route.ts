import { SetMetadata, applyDecorators } from '@nestjs/common';
import type { RpcContract } from '@agentplane/contracts';

export const API_ROUTE = 'agentplane:api-route';

export interface ApiRouteMeta {
  contract: RpcContract;
  /** Status of a fresh success (201 for creates, 204 for deletes). */
  status: number;
  summary: string;
  /** Where the request's fields come from besides path parameters. */
  input: 'body' | 'query' | 'none';
  /** Extra success statuses, e.g. 200 for an identical re-deploy. */
  alsoStatus?: number[];
  tag: string;
  /** Also answers `Accept: text/event-stream` (Server-Sent Events, resumable with `Last-Event-ID`). */
  eventStream?: boolean;
  /** A path parameter whose contract field has another name (`{id}` → `agentId`). */
  pathFields?: Record<string, string>;
}

/** Declares how a REST route maps onto its NATS contract; the OpenAPI document is built from these. */
export function ApiRoute(meta: ApiRouteMeta): MethodDecorator {
  return applyDecorators(SetMetadata(API_ROUTE, meta));
}
