//! The WeCom (企业微信 / 政务微信) channel's protocol layer: the callback crypto
//! ([`crypto`]), the callback's XML ([`inbound`]), the HTTP API client ([`api`]) and the
//! callback endpoint ([`callback`]). Nothing here knows the conversation core; the adapter
//! that turns [`inbound::WecomInbound`] into core inputs and core effects into API calls is
//! built on top of it.

pub mod api;
pub mod crypto;
pub mod inbound;
pub mod menu;
