-- The creator of an agent (`user:<id>` / `service_account:<id>`), its owner until authz has the registration.
ALTER TABLE agents ADD COLUMN created_by text;
