import { Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { z } from 'zod';
import { ERROR_CODES } from '@agentplane/domain';
import { HttpErrorSchema } from '@agentplane/contracts';
import { API_ROUTE, type ApiRouteMeta } from './route.js';

type Json = Record<string, unknown>;
/** What Reflector reads metadata from: a class or a method. */
type Target = Parameters<Reflector['get']>[1];

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const s = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Json;
  delete s.$schema;
  return dropUntypedNullable(s) as Json;
}

/**
 * OpenAPI 3.0 ignores `nullable` without a sibling `type` (and linters reject it); zod emits `{nullable: true}` for
 * `z.unknown().nullable()`. An untyped schema already admits any value, so dropping the flag keeps the meaning.
 */
function dropUntypedNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(dropUntypedNullable);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) out[k] = dropUntypedNullable(v);
  if (out.nullable === true && out.type === undefined) delete out.nullable;
  return out;
}

/** `AgentsHttp` → `agents`: the controller's name keys its operations, so operationIds are unique per method. */
function controllerKey(metatype: unknown): string {
  const name = typeof metatype === 'function' ? metatype.name : 'route';
  return name.replace(/Http$/, '').replace(/^./, (c) => c.toLowerCase());
}

function joinPath(...parts: Array<string | string[] | undefined>): string {
  const segs = parts
    .flatMap((p) => (Array.isArray(p) ? p : [p]))
    .filter((p): p is string => typeof p === 'string')
    .flatMap((p) => p.split('/'))
    .filter(Boolean);
  return `/${segs.join('/')}`;
}

const ERROR_STATUSES: Record<string, string> = {
  '400': 'VALIDATION: bad input, with the field path in details.issues',
  '401': 'UNAUTHENTICATED: missing, expired or invalid token',
  '403': 'FORBIDDEN: authenticated but not allowed',
  '404': 'NOT_FOUND: does not exist, or not visible to the caller',
  '409': 'CONFLICT or IDEMPOTENCY_IN_PROGRESS (retry later)',
  '422': 'IDEMPOTENCY_MISMATCH: key reused with another payload',
  '500': 'INTERNAL: unexpected; errorId names the log line',
  '503': 'UNAVAILABLE: the owning service did not answer',
};

/** Builds the OpenAPI 3 document from the gateway's controllers and the zod contracts they forward to. */
@Injectable()
export class OpenApiBuilder {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  build(): Json {
    const paths: Record<string, Json> = {};
    const errorRef = { $ref: '#/components/schemas/Error' };
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as object | undefined;
      if (!instance) continue;
      const proto = Object.getPrototypeOf(instance) as Record<string, Target>;
      const classPath = this.reflector.get<string | string[] | undefined>(PATH_METADATA, wrapper.metatype as Target);
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const handler = proto[name] as Target;
        const meta = this.reflector.get<ApiRouteMeta | undefined>(API_ROUTE, handler);
        if (!meta) continue;
        const methodPath = this.reflector.get<string | string[] | undefined>(PATH_METADATA, handler);
        const method = RequestMethod[this.reflector.get<RequestMethod>(METHOD_METADATA, handler)].toLowerCase();
        const path = joinPath(classPath, methodPath).replace(/:([A-Za-z0-9_]+)/g, '{$1}');
        const pathParams = [...path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1] as string);
        const request = jsonSchema(meta.contract.request, 'input');
        const props = (request.properties ?? {}) as Record<string, Json>;
        const required = new Set((request.required as string[] | undefined) ?? []);
        const fieldOf = (p: string) => meta.pathFields?.[p] ?? p;
        const pathFields = pathParams.map(fieldOf);
        const parameters: Json[] = pathParams.map((p) => ({ name: p, in: 'path', required: true, schema: props[fieldOf(p)] ?? { type: 'string' } }));
        const op: Json = {
          operationId: `${controllerKey(wrapper.metatype)}_${name}`,
          summary: meta.summary,
          tags: [meta.tag],
          security: [{ bearer: [] }],
          description: `NATS subject \`${meta.contract.subject}\`.${meta.contract.mutating ? ' Accepts `Idempotency-Key`; a replay carries `Idempotent-Replayed: true`.' : ''}`,
          parameters,
          responses: {} as Json,
        };
        if (meta.contract.mutating) {
          parameters.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', minLength: 1, maxLength: 255 } });
        }
        const rest = Object.fromEntries(Object.entries(props).filter(([k]) => !pathFields.includes(k)));
        if (meta.input === 'query') {
          for (const [k, s] of Object.entries(rest)) parameters.push({ name: k, in: 'query', required: required.has(k), schema: s });
        } else if (meta.input === 'body') {
          const bodySchema = { ...request, properties: rest, required: [...required].filter((r) => !pathFields.includes(r)) };
          // a route whose fields are all optional takes a request without a body (`fields`)
          const needed = (bodySchema.required as string[]).length > 0;
          if (!needed) delete (bodySchema as Json).required;
          op.requestBody = { required: needed, content: { 'application/json': { schema: bodySchema } } };
        }
        const responses = op.responses as Json;
        const ok = meta.status === 204 ? { description: 'No content' } : { description: 'Success', content: { 'application/json': { schema: jsonSchema(meta.contract.reply, 'output') } } };
        responses[String(meta.status)] = ok;
        if (meta.eventStream && 'content' in ok) {
          (ok.content as Json)['text/event-stream'] = { schema: { type: 'string', description: 'id: <seq>, event: <type>, data: <the event as JSON>' } };
          parameters.push({ name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'integer', minimum: 0 } });
          // a stream takes `after` (or the header, which wins) and pages itself
          for (const q of parameters) {
            if (q.in === 'query' && q.name !== 'after') q.description = 'Not with `Accept: text/event-stream` (a 400 then).';
          }
        }
        for (const s of meta.alsoStatus ?? []) responses[String(s)] = { ...ok, description: 'Success (already existed / replay)' };
        for (const [status, description] of Object.entries(ERROR_STATUSES)) {
          if (status === '422' && !meta.contract.mutating) continue;
          responses[status] = { description, content: { 'application/json': { schema: errorRef } } };
        }
        paths[path] = { ...(paths[path] ?? {}), [method]: op };
      }
    }
    const plain = (operationId: string, description: string, schema: Json = { type: 'object' }, type = 'application/json') => ({
      get: { operationId, summary: description, tags: ['operations'], security: [], responses: { '200': { description: 'OK', content: { [type]: { schema } } } } },
    });
    paths['/healthz'] = plain('operations_healthz', 'Liveness');
    paths['/readyz'] = { get: { ...plain('operations_readyz', 'Readiness: NATS reachable').get, responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } } } };
    paths['/metrics'] = plain('operations_metrics', 'Prometheus metrics', { type: 'string' }, 'text/plain');
    paths['/docs'] = plain('operations_docs', 'This API\'s documentation (Swagger UI)', { type: 'string' }, 'text/html');
    return {
      openapi: '3.0.3',
      info: {
        title: 'Agentplane REST gateway',
        version: '1.0.0',
        description: `Every /v1 route forwards to a service over NATS. Error codes: ${ERROR_CODES.join(', ')}.`,
        license: { name: 'UNLICENSED', url: 'https://example.invalid/license' },
      },
      servers: [{ url: '/' }],
      tags: [...new Set(Object.values(paths).flatMap((p) => Object.values(p).flatMap((o) => (o as Json).tags as string[])))].map((name) => ({ name, description: `${name} routes` })),
      paths,
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        schemas: { Error: jsonSchema(HttpErrorSchema, 'output') },
      },
    };
  }
}
