//! The versioned SQL migrations of the PostgreSQL backend, applied at
//! open inside one transaction that holds an advisory lock (so nodes
//! starting together migrate once). `weft_schema` records every version
//! applied; a database whose highest version is above
//! [`PG_SCHEMA_VERSION`] was written by a newer weft and is refused, the
//! same rule as sled's data dir.
//!
//! Records are the same versioned JSON envelopes sled stores (`record`
//! columns, `bytea`); the other columns are what queries select and order
//! by. Text that is sorted uses the `C` collation, so listings come out in
//! the byte order sled's keys give.

use postgres::Client;

use crate::storage::StorageError;

use super::pool::Failure;

/// The schema version this binary writes and understands.
pub const PG_SCHEMA_VERSION: i32 = 3;

/// The advisory lock key migrations hold (`weft` in ASCII).
const MIGRATION_LOCK: i64 = 0x7765_6674;

/// Migration `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE components (
    name text COLLATE "C" NOT NULL,
    version text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    bytes bytea NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE integrations (
    name text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE tenants (
    name text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE tokens (
    hash bytea PRIMARY KEY,
    id text NOT NULL,
    tenant text,
    record bytea NOT NULL
);
CREATE TABLE instances (
    id text COLLATE "C" PRIMARY KEY,
    tenant text COLLATE "C" NOT NULL,
    rev bigint NOT NULL DEFAULT 0,
    record bytea NOT NULL
);
CREATE INDEX instances_by_tenant ON instances (tenant, id);
CREATE TABLE state (
    tag text NOT NULL,
    owner text NOT NULL,
    flow text NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tag, owner, flow, key)
);
CREATE TABLE state_usage (
    tag text NOT NULL,
    owner text NOT NULL,
    flow text NOT NULL,
    bytes bigint NOT NULL,
    keys bigint NOT NULL,
    PRIMARY KEY (tag, owner, flow)
);
CREATE TABLE executions (
    id text COLLATE "C" PRIMARY KEY,
    tenant text NOT NULL,
    instance text NOT NULL,
    flow text NOT NULL,
    status text NOT NULL,
    finished boolean NOT NULL,
    finished_at timestamptz,
    rev bigint NOT NULL DEFAULT 0,
    record bytea NOT NULL
);
CREATE INDEX executions_unfinished ON executions (id) WHERE NOT finished;
CREATE INDEX executions_by_instance ON executions (instance, id);
CREATE TABLE execution_steps (
    execution text NOT NULL,
    path text COLLATE "C" NOT NULL,
    started_at timestamptz NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (execution, path)
);
CREATE TABLE execution_keys (
    instance text NOT NULL,
    flow text NOT NULL,
    key text NOT NULL,
    execution text NOT NULL,
    PRIMARY KEY (instance, flow, key)
);
CREATE INDEX execution_keys_by_execution ON execution_keys (execution);
CREATE TABLE result_tokens (
    hash bytea PRIMARY KEY,
    execution text NOT NULL,
    expires timestamptz NOT NULL
);
CREATE TABLE schedules (
    instance text COLLATE "C" NOT NULL,
    flow text COLLATE "C" NOT NULL,
    due timestamptz NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (instance, flow)
);
CREATE INDEX schedules_by_due ON schedules (due, instance, flow);
"#,
    r#"
CREATE TABLE queue (
    execution text COLLATE "C" PRIMARY KEY,
    tenant text NOT NULL,
    record bytea NOT NULL,
    lease_node text,
    lease_until timestamptz
);
CREATE INDEX queue_by_tenant ON queue (tenant);
INSERT INTO queue (execution, tenant, record)
SELECT id, tenant, convert_to(json_build_object('v', 1, 'data', json_build_object(
    'execution', id, 'tenant', tenant, 'instance', instance, 'flow', flow))::text, 'UTF8')
FROM executions WHERE NOT finished;
"#,
    // The columns a claim chooses by (backfilled from the entries'
    // records; lane 0 is sync, 1 async; no flow limit is the largest
    // bigint), one row per tenant that claims lock, and named leases.
    r#"
ALTER TABLE queue
    ADD COLUMN instance text NOT NULL DEFAULT '',
    ADD COLUMN flow text NOT NULL DEFAULT '',
    ADD COLUMN lane smallint NOT NULL DEFAULT 1,
    ADD COLUMN flow_limit bigint NOT NULL DEFAULT 9223372036854775807,
    ADD COLUMN fifo boolean NOT NULL DEFAULT false,
    ADD COLUMN not_before timestamptz,
    ADD COLUMN home_node text,
    ADD COLUMN home_until timestamptz;
UPDATE queue SET (instance, flow, lane, flow_limit, fifo, not_before, home_node, home_until) = (
    SELECT coalesce(d->>'instance', ''), coalesce(d->>'flow', ''),
           CASE WHEN d->>'lane' = 'sync' THEN 0 ELSE 1 END,
           coalesce((d->>'limit')::bigint, 9223372036854775807),
           coalesce((d->>'fifo')::boolean, false),
           (d->>'not_before')::timestamptz,
           d->'home'->>0, (d->'home'->>1)::timestamptz
    FROM (SELECT convert_from(record, 'UTF8')::jsonb -> 'data' AS d) AS entry);
ALTER TABLE queue
    ALTER COLUMN instance DROP DEFAULT,
    ALTER COLUMN flow DROP DEFAULT,
    ALTER COLUMN lane DROP DEFAULT,
    ALTER COLUMN flow_limit DROP DEFAULT;
DROP INDEX queue_by_tenant;
CREATE INDEX queue_by_tenant ON queue (tenant, lane, execution);
CREATE INDEX queue_by_group ON queue (tenant, instance, flow, fifo, flow_limit, lane, execution);
CREATE INDEX queue_by_flow ON queue (instance, flow, execution);
CREATE INDEX queue_tenant_leases ON queue (tenant, lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX queue_flow_leases ON queue (instance, flow, lease_until)
    WHERE lease_until IS NOT NULL;
CREATE TABLE queue_tenants (
    tenant text PRIMARY KEY
);
INSERT INTO queue_tenants (tenant) SELECT DISTINCT tenant FROM queue;
CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    until timestamptz NOT NULL
);
"#,
];

/// Applies the missing migrations, or refuses a newer schema. `label`
/// names the database in the refusal.
pub fn migrate(client: &mut Client, label: &str) -> Result<(), Failure> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS weft_schema (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM weft_schema", &[])?
        .get(0);
    if found > PG_SCHEMA_VERSION {
        return Err(Failure::Storage(StorageError::FutureDatabaseSchema {
            database: label.to_owned(),
            found: found as u32,
            supported: PG_SCHEMA_VERSION as u32,
        }));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate() {
        let version = n as i32 + 1;
        if version > found {
            tx.batch_execute(sql)?;
            tx.execute("INSERT INTO weft_schema (version) VALUES ($1)", &[&version])?;
            tracing::info!(database = label, version, "applied a storage migration");
        }
    }
    tx.commit()?;
    Ok(())
}
