//! The WeCom (企业微信 / 政务微信) channel's protocol layer: the callback crypto ([`crypto`]),
//! the callback's XML ([`inbound`]), the callback endpoint ([`callback`]), the API client
//! ([`api`]) and the app menu ([`menu`]). Nothing here knows the conversation core: the
//! adapter that turns [`inbound::WecomInbound`] into core inputs and core effects into API
//! calls is built on top of it (see `docs/wecom.md`).

pub mod api;
pub mod callback;
pub mod crypto;
pub mod inbound;
pub mod menu;

use std::time::Duration;

pub use api::{ApiError, WecomClient};
pub use callback::{HandlerError, InboundHandler};
pub use crypto::{CallbackCrypto, CryptoError};
pub use inbound::{Inbound, WecomInbound};

/// A self-built app's settings (企业微信管理后台 → 应用管理 → the app).
#[derive(Clone, PartialEq, Eq)]
pub struct WecomConfig {
    /// 企业ID (`ww…`): the receive id of every callback.
    pub corp_id: String,
    /// The app's AgentId.
    pub agent_id: i64,
    /// The app's Secret. Never printed.
    pub secret: String,
    /// The callback's Token (接收消息 → API接收). Never printed.
    pub token: String,
    /// The callback's EncodingAESKey (43 characters). Never printed.
    pub aes_key: String,
    /// WeCom's API host ([`api::DEFAULT_API_URL`]; tests point it at a fake server).
    pub api_url: String,
}

impl std::fmt::Debug for WecomConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WecomConfig")
            .field("corp_id", &self.corp_id)
            .field("agent_id", &self.agent_id)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// A setting WeCom would not work with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WecomConfigError {
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("wecom_agent_id must be a positive number")]
    AgentId,
    #[error("wecom_aes_key: {0}")]
    AesKey(CryptoError),
    #[error("wecom_api_url: {0}")]
    ApiUrl(String),
}

impl WecomConfig {
    /// Checks every setting (the AES key is decoded, the API URL parsed).
    pub fn check(&self) -> Result<(), WecomConfigError> {
        for (name, value) in [
            ("wecom_corp_id", &self.corp_id),
            ("wecom_secret", &self.secret),
            ("wecom_token", &self.token),
        ] {
            if value.trim().is_empty() {
                return Err(WecomConfigError::Empty(name));
            }
        }
        if self.agent_id <= 0 {
            return Err(WecomConfigError::AgentId);
        }
        crypto::parse_encoding_aes_key(&self.aes_key).map_err(WecomConfigError::AesKey)?;
        let url = self.api_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.parse::<axum::http::Uri>().is_err()
        {
            return Err(WecomConfigError::ApiUrl(format!(
                "{url:?} is not an http(s) URL"
            )));
        }
        Ok(())
    }

    pub fn crypto(&self) -> Result<CallbackCrypto, CryptoError> {
        CallbackCrypto::new(self.token.trim(), &self.aes_key, self.corp_id.trim())
    }

    pub fn client(&self) -> Result<WecomClient, ApiError> {
        WecomClient::new(api::ApiSettings {
            api_url: self.api_url.clone(),
            corp_id: self.corp_id.trim().to_owned(),
            agent_id: self.agent_id,
            secret: self.secret.trim().to_owned(),
            timeout: Duration::from_secs(15),
        })
    }

    pub fn callback_settings(&self) -> callback::CallbackSettings {
        callback::CallbackSettings::new(self.agent_id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config() -> WecomConfig {
        WecomConfig {
            corp_id: "ww1436e0e65a779aee".into(),
            agent_id: 1000002,
            secret: "app-secret".into(),
            token: "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo".into(),
            aes_key: "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt".into(),
            api_url: api::DEFAULT_API_URL.into(),
        }
    }

    #[test]
    fn settings_are_checked_and_secrets_never_printed() {
        let c = config();
        c.check().unwrap();
        c.crypto().unwrap();
        c.client().unwrap();
        let printed = format!("{c:?} {:?}", c.crypto().unwrap());
        for secret in [&c.secret, &c.token, &c.aes_key] {
            assert!(!printed.contains(secret.as_str()), "{printed}");
        }
        let mut bad = config();
        bad.aes_key = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhU".into();
        assert_eq!(
            bad.check(),
            Err(WecomConfigError::AesKey(CryptoError::BadAesKey))
        );
        let mut bad = config();
        bad.agent_id = 0;
        assert_eq!(bad.check(), Err(WecomConfigError::AgentId));
        let mut bad = config();
        bad.token = " ".into();
        assert_eq!(bad.check(), Err(WecomConfigError::Empty("wecom_token")));
        let mut bad = config();
        bad.api_url = "qyapi.weixin.qq.com".into();
        assert!(matches!(bad.check(), Err(WecomConfigError::ApiUrl(_))));
    }
}
