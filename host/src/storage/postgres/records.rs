//! Components (metadata and bytes in one row), integration versions and
//! instances in PostgreSQL. Inserts of immutable records are
//! `ON CONFLICT DO NOTHING` followed by reading the row that won;
//! instance updates compare a revision number and retry, like sled's
//! compare-and-swap.

use crate::storage::records::encode;
use crate::storage::{
    ComponentRecord, ComponentStore, Inserted, InstanceRecord, InstanceStore, IntegrationRecord,
    IntegrationStore, Result,
};

use super::pool::Failure;
use super::{PostgresStore, decode_row};

impl ComponentStore for PostgresStore {
    fn list_components(&self) -> Result<Vec<ComponentRecord>> {
        self.pool.try_run(|client| {
            client
                .query(
                    "SELECT name, version, record FROM components ORDER BY name, version",
                    &[],
                )?
                .iter()
                .map(|row| {
                    let key = format!("{}@{}", row.get::<_, &str>(0), row.get::<_, &str>(1));
                    decode_row("component", &key, row.get(2))
                })
                .collect()
        })
    }

    fn get_component(&self, name: &str, version: &str) -> Result<Option<ComponentRecord>> {
        let (name, version) = (name.to_owned(), version.to_owned());
        self.pool.try_run(move |client| {
            client
                .query_opt(
                    "SELECT record FROM components WHERE name = $1 AND version = $2",
                    &[&name, &version],
                )?
                .map(|row| decode_row("component", &format!("{name}@{version}"), row.get(0)))
                .transpose()
        })
    }

    fn component_bytes(&self, name: &str, version: &str) -> Result<Option<Vec<u8>>> {
        let (name, version) = (name.to_owned(), version.to_owned());
        self.pool.run(move |client| {
            Ok(client
                .query_opt(
                    "SELECT bytes FROM components WHERE name = $1 AND version = $2",
                    &[&name, &version],
                )?
                .map(|row| row.get::<_, Vec<u8>>(0)))
        })
    }

    fn insert_component(
        &self,
        record: &ComponentRecord,
        bytes: &[u8],
    ) -> Result<Inserted<ComponentRecord>> {
        let value = encode(record)?;
        let (name, version, bytes) = (record.name.clone(), record.version.clone(), bytes.to_vec());
        self.pool.try_run(move |client| {
            let created = client.execute(
                "INSERT INTO components (name, version, record, bytes) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&name, &version, &value, &bytes],
            )?;
            if created == 1 {
                return Ok(Inserted::Created);
            }
            let row = client.query_one(
                "SELECT record FROM components WHERE name = $1 AND version = $2",
                &[&name, &version],
            )?;
            Ok(Inserted::Exists(decode_row(
                "component",
                &format!("{name}@{version}"),
                row.get(0),
            )?))
        })
    }

    fn delete_component(&self, name: &str, version: &str) -> Result<bool> {
        let (name, version) = (name.to_owned(), version.to_owned());
        self.pool.run(move |client| {
            Ok(client.execute(
                "DELETE FROM components WHERE name = $1 AND version = $2",
                &[&name, &version],
            )? > 0)
        })
    }
}

impl IntegrationStore for PostgresStore {
    fn list_integrations(&self) -> Result<Vec<IntegrationRecord>> {
        self.pool.try_run(|client| {
            client
                .query(
                    "SELECT name, version, record FROM integrations ORDER BY name, version",
                    &[],
                )?
                .iter()
                .map(|row| {
                    let key = format!("{}@{}", row.get::<_, &str>(0), row.get::<_, i64>(1));
                    decode_row("integration", &key, row.get(2))
                })
                .collect()
        })
    }

    fn get_integration(&self, name: &str, version: u32) -> Result<Option<IntegrationRecord>> {
        let name = name.to_owned();
        self.pool.try_run(move |client| {
            client
                .query_opt(
                    "SELECT record FROM integrations WHERE name = $1 AND version = $2",
                    &[&name, &i64::from(version)],
                )?
                .map(|row| decode_row("integration", &format!("{name}@{version}"), row.get(0)))
                .transpose()
        })
    }

    fn latest_integration(&self, name: &str) -> Result<Option<IntegrationRecord>> {
        let name = name.to_owned();
        self.pool.try_run(move |client| {
            client
                .query_opt(
                    "SELECT record FROM integrations WHERE name = $1
                     ORDER BY version DESC LIMIT 1",
                    &[&name],
                )?
                .map(|row| decode_row("integration", &name, row.get(0)))
                .transpose()
        })
    }

    fn insert_integration(
        &self,
        record: &IntegrationRecord,
    ) -> Result<Inserted<IntegrationRecord>> {
        let value = encode(record)?;
        let (name, version) = (record.name.clone(), i64::from(record.version));
        self.pool.try_run(move |client| {
            let created = client.execute(
                "INSERT INTO integrations (name, version, record) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&name, &version, &value],
            )?;
            if created == 1 {
                return Ok(Inserted::Created);
            }
            let row = client.query_one(
                "SELECT record FROM integrations WHERE name = $1 AND version = $2",
                &[&name, &version],
            )?;
            Ok(Inserted::Exists(decode_row(
                "integration",
                &format!("{name}@{version}"),
                row.get(0),
            )?))
        })
    }

    fn delete_integration(&self, name: &str, version: u32) -> Result<bool> {
        let name = name.to_owned();
        self.pool.run(move |client| {
            Ok(client.execute(
                "DELETE FROM integrations WHERE name = $1 AND version = $2",
                &[&name, &i64::from(version)],
            )? > 0)
        })
    }
}

fn decode_instances(rows: &[postgres::Row]) -> Result<Vec<InstanceRecord>, Failure> {
    rows.iter()
        .map(|row| decode_row("instance", row.get(0), row.get(1)))
        .collect()
}

impl InstanceStore for PostgresStore {
    fn list_instances(&self, tenant: Option<&str>) -> Result<Vec<InstanceRecord>> {
        let tenant = tenant.map(str::to_owned);
        self.pool.try_run(move |client| {
            let rows = match &tenant {
                Some(tenant) => client.query(
                    "SELECT id, record FROM instances WHERE tenant = $1 ORDER BY id",
                    &[tenant],
                )?,
                None => client.query("SELECT id, record FROM instances ORDER BY id", &[])?,
            };
            decode_instances(&rows)
        })
    }

    fn get_instance(&self, id: &str) -> Result<Option<InstanceRecord>> {
        let id = id.to_owned();
        self.pool.try_run(move |client| {
            client
                .query_opt("SELECT record FROM instances WHERE id = $1", &[&id])?
                .map(|row| decode_row("instance", &id, row.get(0)))
                .transpose()
        })
    }

    fn create_instance(&self, record: &InstanceRecord) -> Result<()> {
        let value = encode(record)?;
        let (id, tenant) = (record.id.clone(), record.tenant.clone());
        self.pool.run(move |client| {
            client.execute(
                "INSERT INTO instances (id, tenant, record) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET tenant = $2, record = $3, rev = instances.rev + 1",
                &[&id, &tenant, &value],
            )?;
            Ok(())
        })
    }

    fn update_instance(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>> {
        loop {
            let key = id.to_owned();
            let current = self.pool.try_run(move |client| {
                client
                    .query_opt("SELECT rev, record FROM instances WHERE id = $1", &[&key])?
                    .map(|row| {
                        let record: InstanceRecord = decode_row("instance", &key, row.get(1))?;
                        Ok((row.get::<_, i64>(0), record))
                    })
                    .transpose()
            })?;
            let Some((rev, mut record)) = current else {
                return Ok(None);
            };
            change(&mut record);
            let value = encode(&record)?;
            let key = id.to_owned();
            let swapped = self.pool.run(move |client| {
                client.execute(
                    "UPDATE instances SET record = $2, rev = rev + 1 WHERE id = $1 AND rev = $3",
                    &[&key, &value, &rev],
                )
            })?;
            if swapped == 1 {
                return Ok(Some(record));
            }
        }
    }

    fn delete_instance(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.pool.run(move |client| {
            let mut tx = client.transaction()?;
            if tx.execute("DELETE FROM instances WHERE id = $1", &[&id])? == 0 {
                return Ok(false);
            }
            tx.execute("DELETE FROM schedules WHERE instance = $1", &[&id])?;
            tx.execute(
                "DELETE FROM state WHERE tag IN ('i', 'f') AND owner = $1",
                &[&id],
            )?;
            tx.execute(
                "DELETE FROM state_usage WHERE tag IN ('i', 'f') AND owner = $1",
                &[&id],
            )?;
            tx.execute("DELETE FROM execution_keys WHERE instance = $1", &[&id])?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn instances_of_integration(&self, name: &str) -> Result<Vec<InstanceRecord>> {
        // The integration name sits inside the record only; instances are
        // few next to executions, so the filter runs here, as with sled.
        Ok(self
            .list_instances(None)?
            .into_iter()
            .filter(|i| i.integration == name)
            .collect())
    }
}
