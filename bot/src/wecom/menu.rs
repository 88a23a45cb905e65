//! The app menu (`menu/create`): at most 3 top-level entries of at most 5 each, so Gridline's
//! five entries go as 走访 | 上报 ▸ 事件, 诉求 | 我的 ▸ 我上报的事项, 帮助. Each click arrives as a
//! [`super::inbound::WecomInbound::MenuClick`] whose key is the conversation's command name
//! (`visit`, `incident`, `request`, `my`, `help`).

use gridline_shared::conversation::render::tr;
use gridline_shared::domain::Lang;
use serde::Serialize;

/// WeCom's limits on a menu.
pub const MAX_TOP_LEVEL: usize = 3;
pub const MAX_SUB_BUTTONS: usize = 5;
pub const MAX_TOP_NAME_BYTES: usize = 16;
pub const MAX_SUB_NAME_BYTES: usize = 40;
pub const MAX_KEY_BYTES: usize = 128;

/// A menu as `menu/create` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Menu {
    pub button: Vec<MenuEntry>,
}

/// A top-level entry: a click, or a group of clicks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum MenuEntry {
    Click(MenuClick),
    Group {
        name: String,
        sub_button: Vec<MenuClick>,
    },
}

/// A menu item sending its key back as a `click` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MenuClick {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub key: String,
}

impl MenuClick {
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> MenuClick {
        MenuClick {
            kind: "click",
            name: name.into(),
            key: key.into(),
        }
    }
}

/// Why WeCom would refuse a menu.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MenuError {
    #[error("a menu has 1 to {MAX_TOP_LEVEL} top-level entries")]
    TopLevelCount,
    #[error("a group has 1 to {MAX_SUB_BUTTONS} entries")]
    SubCount,
    #[error("menu name {0:?} is empty or too long")]
    Name(String),
    #[error("menu key {0:?} is empty or too long")]
    Key(String),
}

impl Menu {
    /// Checks WeCom's limits (names in bytes of UTF-8: a Chinese character is 3).
    pub fn check(&self) -> Result<(), MenuError> {
        if self.button.is_empty() || self.button.len() > MAX_TOP_LEVEL {
            return Err(MenuError::TopLevelCount);
        }
        let name_ok = |name: &str, max: usize| !name.trim().is_empty() && name.len() <= max;
        let click_ok = |c: &MenuClick, max: usize| -> Result<(), MenuError> {
            if !name_ok(&c.name, max) {
                return Err(MenuError::Name(c.name.clone()));
            }
            if c.key.is_empty() || c.key.len() > MAX_KEY_BYTES {
                return Err(MenuError::Key(c.key.clone()));
            }
            Ok(())
        };
        for entry in &self.button {
            match entry {
                MenuEntry::Click(c) => click_ok(c, MAX_TOP_NAME_BYTES)?,
                MenuEntry::Group { name, sub_button } => {
                    if !name_ok(name, MAX_TOP_NAME_BYTES) {
                        return Err(MenuError::Name(name.clone()));
                    }
                    if sub_button.is_empty() || sub_button.len() > MAX_SUB_BUTTONS {
                        return Err(MenuError::SubCount);
                    }
                    for c in sub_button {
                        click_ok(c, MAX_SUB_NAME_BYTES)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every key the menu can send.
    pub fn keys(&self) -> Vec<&str> {
        self.button
            .iter()
            .flat_map(|e| match e {
                MenuEntry::Click(c) => vec![c.key.as_str()],
                MenuEntry::Group { sub_button, .. } => {
                    sub_button.iter().map(|c| c.key.as_str()).collect()
                }
            })
            .collect()
    }
}

/// Gridline's menu in `lang` (the menu is the app's, one language for everyone: the county's).
pub fn gridline_menu(lang: Lang) -> Menu {
    Menu {
        button: vec![
            MenuEntry::Click(MenuClick::new(tr("bot.menu.visit", lang), "visit")),
            MenuEntry::Group {
                name: tr("wecom.menu.report", lang),
                sub_button: vec![
                    MenuClick::new(tr("bot.menu.incident", lang), "incident"),
                    MenuClick::new(tr("bot.menu.request", lang), "request"),
                ],
            },
            MenuEntry::Group {
                name: tr("bot.menu.my", lang),
                sub_button: vec![
                    MenuClick::new(tr("bot.cmd.my", lang), "my"),
                    MenuClick::new(tr("bot.menu.help", lang), "help"),
                ],
            },
        ],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn gridline_menu_fits_wecom_and_speaks_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            let menu = gridline_menu(lang);
            menu.check().unwrap();
            assert_eq!(menu.keys(), ["visit", "incident", "request", "my", "help"]);
        }
        let zh = serde_json::to_value(gridline_menu(Lang::Zh)).unwrap();
        assert_eq!(
            zh,
            serde_json::json!({"button": [
                {"type": "click", "name": "走访", "key": "visit"},
                {"name": "上报", "sub_button": [
                    {"type": "click", "name": "事件", "key": "incident"},
                    {"type": "click", "name": "诉求", "key": "request"}]},
                {"name": "我的", "sub_button": [
                    {"type": "click", "name": "我上报的事项", "key": "my"},
                    {"type": "click", "name": "帮助", "key": "help"}]}
            ]})
        );
        let en = serde_json::to_value(gridline_menu(Lang::En)).unwrap();
        assert_eq!(en["button"][1]["name"], "Report");
    }

    #[test]
    fn limits_are_checked() {
        let click = || MenuEntry::Click(MenuClick::new("走访", "visit"));
        let four = Menu {
            button: vec![click(), click(), click(), click()],
        };
        assert_eq!(four.check(), Err(MenuError::TopLevelCount));
        let long = Menu {
            button: vec![MenuEntry::Click(MenuClick::new(
                "走访走访走访走访走访走访",
                "v",
            ))],
        };
        assert!(matches!(long.check(), Err(MenuError::Name(_))));
        let six = Menu {
            button: vec![MenuEntry::Group {
                name: "上报".into(),
                sub_button: (0..6)
                    .map(|i| MenuClick::new("x", format!("k{i}")))
                    .collect(),
            }],
        };
        assert_eq!(six.check(), Err(MenuError::SubCount));
        let no_key = Menu {
            button: vec![MenuEntry::Click(MenuClick::new("走访", ""))],
        };
        assert!(matches!(no_key.check(), Err(MenuError::Key(_))));
    }
}
