//! sea-orm entities, one per table, kept apart from hand-written behaviour (which lives in
//! the domain modules as `impl Model { … }` and free functions taking a [`crate::scope::Scope`]).
//! They mirror `migrations/` exactly; change both together.

pub mod area;
pub mod attachment;
pub mod category;
pub mod holiday;
pub mod member;
pub mod outbox;
pub mod report;
pub mod report_event;
pub mod staff_user;
