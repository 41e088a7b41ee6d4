//! Configuration and operations: the configuration file and its live reload, the admin
//! listener (metrics, health, purge, reload) and its client, Prometheus metrics, and the
//! zero-downtime binary upgrade.

pub mod admin;
pub mod admin_client;
pub mod config;
pub mod metrics;
pub mod reload;
pub mod upgrade;
