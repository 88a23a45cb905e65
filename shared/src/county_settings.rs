//! County settings (「县级设置」): the few choices a county makes for the whole tree, changed by
//! the county admin in the panel. Each [`Setting`] is declared once here with its kind, default
//! and bounds; the table `county_settings` holds only the values that were changed. Reading
//! them is one small query ([`load`]); changing them is a staff command ([`update`]) that
//! checks the role, validates every value and writes one audit line per changed setting in one
//! transaction.
//!
//! Adding a setting: a variant of [`Setting`] with its `key` and `kind`, and its label and hint
//! in `admin/locales/settings.yml` (`panel.settings.<key>` and `panel.settings.<key>.hint`; a
//! test checks both languages). The panel page lists every variant by itself.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use crate::audit::{self, AuditAction, AuditTarget};
use crate::db::Db;
use crate::entity::county_setting;
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;

/// A county-wide choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter)]
pub enum Setting {
    /// 超期自动提级: a report past its deadline moves up to the level above by itself (the old
    /// behaviour). Off by default: overdue work is supervised (督办), not moved.
    AutoEscalation,
}

/// What kind of value a setting takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// On or off.
    Switch { default: bool },
    /// A whole number in `min..=max`.
    Number { default: i64, min: i64, max: i64 },
}

/// A setting's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Switch(bool),
    Number(i64),
}

impl Value {
    /// As stored in `county_settings.value`.
    fn stored(self) -> String {
        match self {
            Value::Switch(on) => if on { "true" } else { "false" }.to_owned(),
            Value::Number(n) => n.to_string(),
        }
    }
}

impl Setting {
    /// Every setting, in the order the panel lists them.
    pub fn all() -> impl Iterator<Item = Setting> {
        use strum::IntoEnumIterator;
        Setting::iter()
    }

    /// The stored key, also the i18n key's tail.
    pub fn key(self) -> &'static str {
        match self {
            Setting::AutoEscalation => "auto_escalation",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Setting::AutoEscalation => Kind::Switch { default: false },
        }
    }

    pub fn parse(key: &str) -> Option<Setting> {
        Setting::all().find(|s| s.key() == key)
    }

    pub fn default_value(self) -> Value {
        match self.kind() {
            Kind::Switch { default } => Value::Switch(default),
            Kind::Number { default, .. } => Value::Number(default),
        }
    }

    /// The i18n keys of its label and of the sentence explaining it (in the panel's texts).
    pub fn label_key(self) -> String {
        format!("panel.settings.{}", self.key())
    }
    pub fn hint_key(self) -> String {
        format!("panel.settings.{}.hint", self.key())
    }

    /// Reads a value typed in a form: a switch is on when the box was ticked (`Some`), a number
    /// must be a whole number within the bounds.
    pub fn read(self, input: Option<&str>) -> Result<Value, Problem> {
        match self.kind() {
            Kind::Switch { .. } => {
                Ok(Value::Switch(input.is_some_and(|v| {
                    !matches!(v.trim(), "" | "false" | "0" | "off")
                })))
            }
            Kind::Number { min, max, .. } => {
                let n: i64 = input
                    .unwrap_or("")
                    .trim()
                    .parse()
                    .map_err(|_| Problem::SettingNotANumber)?;
                if (min..=max).contains(&n) {
                    Ok(Value::Number(n))
                } else {
                    Err(Problem::SettingOutOfRange { min, max })
                }
            }
        }
    }

    /// A stored value read back; `None` when it no longer fits the kind (then the default
    /// applies).
    fn parse_stored(self, text: &str) -> Option<Value> {
        match self.kind() {
            Kind::Switch { .. } => match text {
                "true" => Some(Value::Switch(true)),
                "false" => Some(Value::Switch(false)),
                _ => None,
            },
            Kind::Number { min, max, .. } => text
                .parse()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .map(Value::Number),
        }
    }
}

/// The county's settings as they are now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CountySettings {
    changed: HashMap<Setting, Value>,
}

impl CountySettings {
    pub fn value(&self, setting: Setting) -> Value {
        self.changed
            .get(&setting)
            .copied()
            .unwrap_or_else(|| setting.default_value())
    }

    /// A switch's state (`false` for a number setting).
    pub fn is_on(&self, setting: Setting) -> bool {
        matches!(self.value(setting), Value::Switch(true))
    }

    /// A number setting's value (0 for a switch).
    pub fn number(&self, setting: Setting) -> i64 {
        match self.value(setting) {
            Value::Number(n) => n,
            Value::Switch(_) => 0,
        }
    }

    /// The settings as if `changes` were applied (for tests and previews).
    pub fn with(mut self, setting: Setting, value: Value) -> CountySettings {
        self.changed.insert(setting, value);
        self
    }
}

/// The settings now (one query; unknown or unreadable rows are ignored).
pub async fn load(conn: &impl ConnectionTrait) -> CoreResult<CountySettings> {
    let rows = county_setting::Entity::find().all(conn).await?;
    let changed = rows
        .into_iter()
        .filter_map(|r| {
            let setting = Setting::parse(&r.key)?;
            Some((setting, setting.parse_stored(&r.value)?))
        })
        .collect();
    Ok(CountySettings { changed })
}

/// Staff command: sets the given settings (county admin only). Every value is checked before
/// anything is written; one audit line per setting whose value changed. Returns the settings
/// after the change.
pub async fn update(
    db: &Db,
    actor: &StaffActor,
    values: &[(Setting, Value)],
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<CountySettings> {
    crate::staff::require_county_admin(actor)?;
    for (setting, value) in values {
        let fits = match (setting.kind(), value) {
            (Kind::Switch { .. }, Value::Switch(_)) => true,
            (Kind::Number { min, max, .. }, Value::Number(n)) => (min..=max).contains(n),
            _ => false,
        };
        if !fits {
            return Err(CoreError::Invalid(match setting.kind() {
                Kind::Number { min, max, .. } => Problem::SettingOutOfRange { min, max },
                Kind::Switch { .. } => Problem::SettingNotANumber,
            }));
        }
    }
    let txn = db.write().await?;
    let before = load(&*txn).await?;
    for &(setting, value) in values {
        if before.value(setting) == value {
            continue;
        }
        let existing = county_setting::Entity::find_by_id(setting.key().to_owned())
            .one(&*txn)
            .await?;
        match existing {
            Some(r) => {
                let mut row: county_setting::ActiveModel = r.into();
                row.value = Set(value.stored());
                row.updated_at = Set(now);
                row.updated_by = Set(Some(actor.id));
                row.update(&*txn).await?;
            }
            None => {
                county_setting::ActiveModel {
                    key: Set(setting.key().to_owned()),
                    value: Set(value.stored()),
                    updated_at: Set(now),
                    updated_by: Set(Some(actor.id)),
                }
                .insert(&*txn)
                .await?;
            }
        }
        audit::log(
            &*txn,
            Some(actor.id),
            AuditAction::SettingsChange,
            Some(AuditTarget::Setting(setting.key().to_owned())),
            Some(&value.stored()),
            ip,
        )
        .await?;
    }
    let after = load(&*txn).await?;
    txn.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_defaults_fit() {
        for s in Setting::all() {
            assert_eq!(Setting::parse(s.key()), Some(s));
            assert_eq!(
                s.parse_stored(&s.default_value().stored()),
                Some(s.default_value())
            );
        }
        assert_eq!(Setting::parse("nope"), None);
        assert!(!CountySettings::default().is_on(Setting::AutoEscalation));
    }

    #[test]
    fn form_values_are_read_and_checked() {
        let s = Setting::AutoEscalation;
        assert_eq!(s.read(Some("on")), Ok(Value::Switch(true)));
        assert_eq!(s.read(None), Ok(Value::Switch(false)));
        assert_eq!(s.read(Some("false")), Ok(Value::Switch(false)));
        let on = CountySettings::default().with(s, Value::Switch(true));
        assert!(on.is_on(s));
    }
}
