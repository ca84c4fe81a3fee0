//! Cases of the contract about several nodes on one store, on both
//! backends: queue claims racing from several threads (each a node) keep
//! the caps and hand every entry out once, and a named lease has one
//! holder at a time.

use super::*;
use weft::storage::leases_contract;

contract!(
    queue_claims_hold_caps_under_contention,
    leases_one_holder_renewal_and_takeover,
    leases_one_of_many_acquires,
);

fn queue_claims_hold_caps_under_contention(store: &dyn Storage) {
    queue_contract::claims_hold_caps_under_contention(store);
}

fn leases_one_holder_renewal_and_takeover(store: &dyn Storage) {
    leases_contract::one_holder_renewal_and_takeover(store);
}

fn leases_one_of_many_acquires(store: &dyn Storage) {
    leases_contract::one_of_many_acquires(store);
}
