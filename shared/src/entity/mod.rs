//! sea-orm entities, one per table, kept apart from hand-written behaviour (which lives in
//! the domain modules as `impl Model { … }` and free functions taking a [`crate::scope::Scope`]).
//! They mirror `migrations/` exactly; change both together.

pub mod api_token;
pub mod area;
pub mod attachment;
pub mod audit_entry;
pub mod bot_dialogue;
pub mod bot_kv;
pub mod bot_message_ref;
pub mod bot_processed;
pub mod category;
pub mod county_setting;
pub mod holiday;
pub mod member;
pub mod notice;
pub mod notice_batch;
pub mod notice_recipient;
pub mod outbox;
pub mod panel_session;
pub mod report;
pub mod report_event;
pub mod response_template;
pub mod simulator_message;
pub mod staff_user;
