#![forbid(unsafe_code)]
//! attestgate: resolve container images' supply-chain attestations per
//! platform and evaluate Rego policies over them, at admission or locally.

pub mod admission;
pub mod attestation;
pub mod cli;
pub mod config;
pub mod judge;
pub mod memory;
pub mod metrics;
pub mod platform;
pub mod policy;
pub mod registry;
