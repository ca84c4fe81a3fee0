//! Named [`Leases`] in PostgreSQL: one row per name in `leases` (holder,
//! expiry). Taking or renewing is one conditional `UPDATE` (held by the
//! caller, or expired), else an `INSERT … ON CONFLICT DO NOTHING` for a
//! name never taken; either way the row decides, so of several nodes
//! trying at once exactly one holds the lease.

use chrono::{DateTime, Utc};

use crate::storage::{Leases, Result};

use super::PostgresStore;

impl Leases for PostgresStore {
    fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.pool.run(move |client| {
            let taken = client.execute(
                "UPDATE leases SET holder = $2, until = $3
                 WHERE name = $1 AND (holder = $2 OR until <= $4)",
                &[&name, &holder, &until, &now],
            )?;
            if taken == 1 {
                return Ok(true);
            }
            let created = client.execute(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &holder, &until],
            )?;
            Ok(created == 1)
        })
    }
}
