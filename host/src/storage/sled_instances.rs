//! The sled store's instances: records in the `instances` tree, an index
//! by tenant (`tenant \0 id`) written in the same transaction, decoded
//! records kept in memory (`instance_cache.rs`), and the
//! cascade that removes what an instance owns (schedules, state,
//! idempotency keys) with it.

use sled::Transactional as _;

use super::records::{decode, encode};
use super::sled_store::{backend, tx_error};
use super::{InstanceRecord, InstanceStore, Result, ScheduleStore as _, SledStore};

/// `tenant \0 id`: the key of an instance in the by-tenant index.
fn tenant_index_key(tenant: &str, id: &str) -> Vec<u8> {
    let mut key = tenant.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(id.as_bytes());
    key
}

impl InstanceStore for SledStore {
    fn list_instances(&self, tenant: Option<&str>) -> Result<Vec<InstanceRecord>> {
        let Some(tenant) = tenant else {
            return Self::list("instance", self.instances.iter());
        };
        let mut prefix = tenant.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for entry in self.instances_by_tenant.scan_prefix(&prefix) {
            let (key, _) = entry.map_err(backend)?;
            let id = &key[prefix.len()..];
            if let Some(record) = Self::get(&self.instances, "instance", id)? {
                out.push(record);
            }
        }
        Ok(out)
    }

    fn get_instance(&self, id: &str) -> Result<Option<InstanceRecord>> {
        self.instance_cache
            .get_or_read(id, || Self::get(&self.instances, "instance", id.as_bytes()))
    }

    fn create_instance(&self, record: &InstanceRecord) -> Result<()> {
        let value = encode(record)?;
        let index = tenant_index_key(&record.tenant, &record.id);
        (&self.instances, &self.instances_by_tenant)
            .transaction(|(instances, by_tenant)| {
                instances.insert(record.id.as_bytes(), value.as_slice())?;
                by_tenant.insert(index.as_slice(), &[] as &[u8])?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.instance_cache.forget(&record.id);
        self.sync()
    }

    fn delete_instance(&self, id: &str) -> Result<bool> {
        let Some(record) = self.get_instance(id)? else {
            return Ok(false);
        };
        for entry in self.list_schedules()? {
            if entry.instance == id {
                self.remove_schedule(id, &entry.flow)?;
            }
        }
        // State of the instance scope (`i\0id\0…`) and of its flow scopes
        // (`f\0id\0flow\0…`), and their usage totals.
        let usage = self.db().open_tree("state_usage").map_err(backend)?;
        for prefix in [format!("i\0{id}\0"), format!("f\0{id}\0")] {
            for tree in [&self.state, &usage] {
                for key in tree.scan_prefix(prefix.as_bytes()).keys() {
                    tree.remove(key.map_err(backend)?).map_err(backend)?;
                }
            }
        }
        for key in self
            .execution_keys
            .scan_prefix(format!("{id}\0").as_bytes())
            .keys()
        {
            self.execution_keys
                .remove(key.map_err(backend)?)
                .map_err(backend)?;
        }
        let index = tenant_index_key(&record.tenant, id);
        (&self.instances, &self.instances_by_tenant)
            .transaction(|(instances, by_tenant)| {
                instances.remove(id.as_bytes())?;
                by_tenant.remove(index.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.instance_cache.forget(id);
        self.sync()?;
        Ok(true)
    }

    fn update_instance(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>> {
        loop {
            let Some(current) = self.instances.get(id).map_err(backend)? else {
                return Ok(None);
            };
            let mut record: InstanceRecord = decode("instance", id.as_bytes(), &current)?;
            change(&mut record);
            let value = encode(&record)?;
            let swapped = self
                .instances
                .compare_and_swap(id, Some(current), Some(value))
                .map_err(backend)?;
            if swapped.is_ok() {
                self.instance_cache.forget(id);
                self.sync()?;
                return Ok(Some(record));
            }
        }
    }
}
