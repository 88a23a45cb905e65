//! Gridline's schema as sea-orm migrations. Every migration is written once for both
#![allow(elided_lifetimes_in_paths)] // async_trait signatures of MigrationTrait
//! SQLite and PostgreSQL; the few backend differences are handled inside the migration.

pub use sea_orm_migration::prelude::*;

mod helpers;

mod m20261129_000001_foundation;
mod m20261129_000002_bot;
mod m20261129_000003_notices;
mod m20261129_000004_panel;
mod m20261129_000005_api;
mod m20261129_000006_dashboard;
mod m20261129_000007_simulator;
mod m20261129_000008_counters;
mod m20261208_000010_county_settings;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_foundation::Migration),
            Box::new(m20261129_000002_bot::Migration),
            Box::new(m20261129_000003_notices::Migration),
            Box::new(m20261129_000004_panel::Migration),
            Box::new(m20261129_000005_api::Migration),
            Box::new(m20261129_000006_dashboard::Migration),
            Box::new(m20261129_000007_simulator::Migration),
            Box::new(m20261129_000008_counters::Migration),
            Box::new(m20261208_000010_county_settings::Migration),
        ]
    }
}

/// The source of every migration: the test template's name hashes it, so editing a migration
/// (not only adding one) never reuses a template built from the old text.
const SOURCES: &[&str] = &[
    include_str!("helpers.rs"),
    include_str!("m20261129_000001_foundation.rs"),
    include_str!("m20261129_000002_bot.rs"),
    include_str!("m20261129_000003_notices.rs"),
    include_str!("m20261129_000004_panel.rs"),
    include_str!("m20261129_000005_api.rs"),
    include_str!("m20261129_000006_dashboard.rs"),
    include_str!("m20261129_000007_simulator.rs"),
    include_str!("m20261129_000008_counters.rs"),
    include_str!("m20261208_000010_county_settings.rs"),
];

/// A fingerprint of the migration set (names and sources), used to name the PostgreSQL test
/// template so that a template built from another schema is never reused.
pub fn schema_fingerprint() -> String {
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in names
        .join(",")
        .bytes()
        .chain(SOURCES.iter().flat_map(|s| s.bytes()))
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_is_fingerprinted() {
        assert_eq!(
            SOURCES.len(),
            Migrator::migrations().len() + 1,
            "add the new migration to SOURCES"
        );
        assert_eq!(schema_fingerprint().len(), 16);
    }
}
