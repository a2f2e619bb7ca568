import { z } from 'zod';
import { Cursor, intParam, JsonObject, JsonObjectInput, Limit, MAX_INT4, Name, Timestamp, Uuid, event, page, rpc } from './rpc.js';

/** Hook names and convention slugs appear in URL paths: a conservative slug. */
export const HookName = z.string().max(128, { abort: true }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit');
export const Slug = HookName;
/** The output contract a hook's rows follow; fixed once the hook exists. */
export const Feature = Name;
/** An OCI content digest, e.g. `sha256:<64 hex>`. */
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,256}$/;
/** `<algorithm>:<encoded>`; the algorithm at most 64 characters (its grammar has no bound; an index entry does). */
export const Digest = z
  .string()
  .max(64 + 1 + 256, { abort: true })
  .regex(DIGEST, 'must be an OCI digest like sha256:<hex>')
  // named only for a digest of the right grammar: one issue per field
  .refine((d) => !DIGEST.test(d) || d.indexOf(':') <= 64, { message: 'its algorithm must be at most 64 characters' });
// eslint-disable-next-line no-control-regex
const NoSpace = /^[^\s\u0000-\u001f\u007f]+$/;
export const Image = z.string().min(1).max(500).regex(NoSpace, 'must not contain white space or control characters');
export const SourceRef = z.string().min(1).max(500).regex(NoSpace, 'must not contain white space or control characters');
export const Version = intParam((n) => n.min(1).max(MAX_INT4));
export const RUN_STATUSES = ['running', 'succeeded', 'failed'] as const;
export const FINISHED_RUN_STATUSES = ['succeeded', 'failed'] as const;
export const LIVE_CHANGE_REASONS = ['release', 'set_live', 'deploy'] as const;

export const ReleaseInput = z
  .object({ image: Image, digest: Digest, config: JsonObjectInput.optional(), sourceRef: SourceRef.optional() })
  .strict();

export const Hook = z.object({
  id: Uuid,
  tenantId: z.string(),
  name: z.string(),
  feature: z.string(),
  liveVersion: z.number().int(),
  liveReleaseId: Uuid,
  createdBy: z.string(),
  createdAt: Timestamp,
});
export type Hook = z.infer<typeof Hook>;

export const Release = z.object({
  id: Uuid,
  hookId: Uuid,
  hookName: z.string(),
  version: z.number().int(),
  image: z.string(),
  digest: z.string(),
  config: JsonObject,
  sourceRef: z.string().nullable(),
  builtBy: z.string(),
  builtAt: Timestamp,
});
export type Release = z.infer<typeof Release>;

export const Run = z.object({
  id: Uuid,
  hookId: Uuid,
  hookName: z.string(),
  releaseId: Uuid,
  version: z.number().int(),
  status: z.enum(RUN_STATUSES),
  startedBy: z.string(),
  startedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  durationMs: z.number().int().nullable(),
  oomRetries: z.number().int(),
});
export type Run = z.infer<typeof Run>;

export const Output = z.object({ id: Uuid, runId: Uuid, payload: JsonObject, createdAt: Timestamp });
export type Output = z.infer<typeof Output>;

export const LiveChange = z.object({
  id: Uuid,
  hookName: z.string(),
  fromVersion: z.number().int().nullable(),
  toVersion: z.number().int(),
  reason: z.enum(LIVE_CHANGE_REASONS),
  changedBy: z.string(),
  changedAt: Timestamp,
});
export type LiveChange = z.infer<typeof LiveChange>;

export const Convention = z.object({
  id: Uuid,
  tenantId: z.string(),
  slug: z.string(),
  schema: JsonObject,
  hookNames: z.array(z.string()),
  updatedBy: z.string(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Convention = z.infer<typeof Convention>;

export const DeployConventionRequest = z
  .object({
    slug: Slug,
    schema: JsonObjectInput,
    hooks: z
      .array(z.object({ name: HookName, feature: Feature, release: ReleaseInput }).strict())
      .min(1)
      .max(100)
      .superRefine((hooks, ctx) => {
        const seen = new Set<string>();
        hooks.forEach((h, i) => {
          if (seen.has(h.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `hook "${h.name}" appears twice` });
          seen.add(h.name);
        });
      }),
  })
  .strict();
export const DeployConventionReply = z.object({
  /** False for an identical re-deploy: nothing was written (gateway: 200 instead of 201). */
  changed: z.boolean(),
  convention: Convention,
  hooks: z.array(
    z.object({ name: z.string(), feature: z.string(), hookCreated: z.boolean(), releaseCreated: z.boolean(), version: z.number().int(), digest: z.string() }),
  ),
});

export const SlugRequest = z.object({ slug: Slug }).strict();
export const ListHooksRequest = z.object({ limit: Limit, cursor: Cursor }).strict();
export const HookNameRequest = z.object({ name: HookName }).strict();
export const ListReleasesRequest = z.object({ name: HookName, limit: Limit, cursor: Cursor }).strict();
export const GetReleaseRequest = z.object({ name: HookName, version: Version }).strict();
export const CreateReleaseRequest = ReleaseInput.extend({ name: HookName }).strict();
export const CreateReleaseReply = z.object({
  /** True when this call minted the version (201), false when the digest was already released (200). */
  created: z.boolean(),
  release: Release,
});
export const SetLiveRequest = z.object({ name: HookName, version: Version }).strict();
/** The hook after the call, and whether it moved the pointer (`false`: that version was live; nothing recorded). */
export const SetLiveReply = Hook.extend({ changed: z.boolean() });
export const StartRunRequest = HookNameRequest;
export const StartRunReply = z.object({ runId: Uuid, release: Release });
export const FinishRunRequest = z
  .object({ id: Uuid, status: z.enum(FINISHED_RUN_STATUSES), oomRetries: z.number().int().min(0).max(1000).optional() })
  .strict();
export const AddOutputsRequest = z.object({ runId: Uuid, rows: z.array(JsonObjectInput).min(1).max(1000) }).strict();
export const AddOutputsReply = z.object({ ids: z.array(Uuid) });
export const GetProvenanceRequest = z.object({ id: Uuid }).strict();
export const Provenance = z.object({ output: Output, run: Run, release: Release, hook: Hook });
export const ListLiveChangesRequest = z.object({ name: HookName, limit: Limit, cursor: Cursor }).strict();

/**
 * `hooks.v1.*` (DESIGN §8). There is deliberately no subject that updates or deletes a release.
 * `list_live_changes` is the read side of the live-pointer audit (issue 7), beside the subjects of §8.
 */
export const hooksContract = {
  deployConvention: rpc('hooks.v1.deploy_convention', DeployConventionRequest, DeployConventionReply, { mutating: true }),
  getConvention: rpc('hooks.v1.get_convention', SlugRequest, Convention),
  list: rpc('hooks.v1.list', ListHooksRequest, page(Hook)),
  get: rpc('hooks.v1.get', HookNameRequest, Hook),
  listReleases: rpc('hooks.v1.list_releases', ListReleasesRequest, page(Release)),
  getRelease: rpc('hooks.v1.get_release', GetReleaseRequest, Release),
  createRelease: rpc('hooks.v1.create_release', CreateReleaseRequest, CreateReleaseReply, { mutating: true }),
  setLive: rpc('hooks.v1.set_live', SetLiveRequest, SetLiveReply, { mutating: true }),
  listLiveChanges: rpc('hooks.v1.list_live_changes', ListLiveChangesRequest, page(LiveChange)),
  startRun: rpc('hooks.v1.start_run', StartRunRequest, StartRunReply, { mutating: true }),
  /**
   * Once: a finished run is CONFLICT with what was recorded (`details: {status, oomRetries, finishedAt}`), so a finish
   * retried after a lost answer (without an Idempotency-Key, which replays) can tell whether the record is its own.
   */
  finishRun: rpc('hooks.v1.finish_run', FinishRunRequest, Run, { mutating: true }),
  addOutputs: rpc('hooks.v1.add_outputs', AddOutputsRequest, AddOutputsReply, { mutating: true }),
  getProvenance: rpc('hooks.v1.get_provenance', GetProvenanceRequest, Provenance),
} as const;

/** Resource registration facts for authz-proxy, written through the outbox (same payloads as tasks'). */
const ResourceRegisteredEvent = z.object({
  resource: z.string(),
  tenant: z.string(),
  owner: z.string().optional(),
  parent: z.string().optional(),
});

export const hooksEvents = {
  resourceRegistered: event('events.hook-registry.resource_registered', ResourceRegisteredEvent),
  /** Hooks, releases and runs are never deleted: only `authz:reconcile --fix` writes it, for a registration without a row. */
  resourceDeregistered: event('events.hook-registry.resource_deregistered', z.object({ resource: z.string() })),
} as const;
