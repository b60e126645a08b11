//! The `Store` contract on PostgreSQL: each case on a fresh database of the test cluster.

mod common;

kiln_store_conformance::suite!(common::open());
