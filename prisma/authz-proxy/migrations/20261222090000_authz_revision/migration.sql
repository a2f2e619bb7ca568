-- The revision of each tenant's decisions (issue 19, DESIGN §3 "the decision cache"). A tenant's row is bumped in the
-- same transaction as every change that can take access away in it (a revocation, a deregistration, a reparent, a
-- rollout mode change), as that transaction's last statement, and every check reads the asker's tenant's revision in
-- the statement that reads the decision's facts (0 while the tenant has no row). A service caches an allowed decision
-- with the revision it was read at and drops it once it hears of a later one: authz-proxy announces each bump after
-- its commit, and every AUTHZ_REVISION_BEACON_MS the revisions changed in the last few seconds (changed_at), so that
-- a bump whose announcement was lost (a crash between the commit and the publish) is heard all the same.
-- A new table: no lock on anything live. Small (a row per tenant that ever took access away); read by primary key.
CREATE TABLE authz_revisions (
  tenant_id  text        PRIMARY KEY,
  rev        bigint      NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
