//! What every page template gets: [`PageCtx`] (locale, CSRF token, the user badge, navigation,
//! language switch, asset URLs) and the text helpers templates call (`page.t("key")`).

use chrono::{DateTime, Utc};
use gridline_shared::areas;
use gridline_shared::domain::AreaLevel;

use crate::app::AppState;
use crate::panel::session::{Ctx, CurrentUser};
use crate::tr;

/// One entry of the top navigation.
pub struct NavEntry {
    /// A key to mark the current page.
    pub key: &'static str,
    pub href: &'static str,
    /// i18n key of the label.
    pub label: &'static str,
    /// Only for county and town admins.
    pub admin_only: bool,
}

/// The navigation, in order. Add an entry when you add a page.
pub const NAV: &[NavEntry] = &[
    NavEntry {
        key: "inbox",
        href: "/inbox",
        label: "panel.nav.inbox",
        admin_only: false,
    },
    NavEntry {
        key: "notices",
        href: "/notices",
        label: "nt.nav",
        admin_only: false,
    },
    NavEntry {
        key: "dashboard",
        href: "/dashboard",
        label: "panel.nav.dashboard",
        admin_only: false,
    },
    NavEntry {
        key: "roster",
        href: "/roster",
        label: "panel.nav.roster",
        admin_only: false,
    },
    NavEntry {
        key: "simulator",
        href: "/simulator",
        label: "sim.nav",
        admin_only: false,
    },
    NavEntry {
        key: "api",
        href: "/api-tokens",
        label: "panel.nav.api",
        admin_only: false,
    },
    NavEntry {
        key: "admin",
        href: "/admin/areas",
        label: "panel.nav.admin",
        admin_only: true,
    },
];

pub struct NavItem {
    pub href: &'static str,
    pub label: String,
    pub active: bool,
}

pub struct UserBadge {
    pub name: String,
    pub role: String,
    pub area: String,
}

/// Context of every page (the `page` field of each template).
pub struct PageCtx {
    pub locale: &'static str,
    pub title: String,
    pub csrf: String,
    pub user: Option<UserBadge>,
    pub nav: Vec<NavItem>,
    /// The same page in the other language.
    pub lang_href: String,
    pub lang_label: String,
    pub css: String,
    pub js: String,
    pub county: String,
}

impl PageCtx {
    /// Translated text.
    pub fn t(&self, key: &str) -> String {
        tr(self.locale, key)
    }

    /// A page for someone not logged in (login form).
    pub fn anonymous(state: &AppState, ctx: &Ctx, title_key: &str) -> PageCtx {
        let mut page = PageCtx::base(state, ctx.locale, &ctx.uri, title_key);
        page.csrf = ctx.csrf();
        page
    }

    fn base(state: &AppState, locale: &'static str, uri: &str, title_key: &str) -> PageCtx {
        let other = if locale == "en" { "zh-CN" } else { "en" };
        PageCtx {
            locale,
            title: tr(locale, title_key),
            csrf: String::new(),
            user: None,
            nav: Vec::new(),
            lang_href: with_param(uri, "lang", other),
            lang_label: tr(locale, "panel.lang.switch"),
            css: crate::panel::assets::url("panel.css"),
            js: crate::panel::assets::url("panel.js"),
            county: state.settings.county_name.clone(),
        }
    }
}

impl CurrentUser {
    /// The page context for this user; `nav_key` marks the current navigation entry.
    pub async fn page(&self, state: &AppState, nav_key: &str, title_key: &str) -> PageCtx {
        let mut page = PageCtx::base(state, self.locale, &self.uri, title_key);
        page.csrf = self.session.csrf_token.clone();
        // The badge only: a failed lookup shows no area name rather than no page.
        let area_name = areas::find_in_scope(state.db.conn(), &self.scope(), self.user.area_id)
            .await
            .map(|a| a.name)
            .unwrap_or_default();
        page.user = Some(UserBadge {
            name: self.user.display_name.clone(),
            role: tr(self.locale, format!("panel.role.{}", self.user.role.code())),
            area: area_name,
        });
        page.nav = NAV
            .iter()
            .filter(|n| !n.admin_only || self.user.role.is_admin())
            // The chat simulator: only when turned on, for staff who may act.
            .filter(|n| {
                n.key != "simulator" || (state.settings.simulator_on() && self.user.role.can_act())
            })
            .map(|n| NavItem {
                href: n.href,
                label: tr(self.locale, n.label),
                active: n.key == nav_key,
            })
            .collect();
        page
    }
}

/// An option of a `<select>` (or a checkbox of a list).
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub fn opt(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Opt {
    Opt {
        value: value.into(),
        label: label.into(),
        selected,
    }
}

/// `uri` with `name=value` set (replacing an existing value).
pub fn with_param(uri: &str, name: &str, value: &str) -> String {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k != name && k != "csrf_token" {
            ser.append_pair(&k, &v);
        }
    }
    ser.append_pair(name, value);
    format!("{path}?{}", ser.finish())
}

pub use gridline_shared::holidays::local_time;

pub fn local_time_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(local_time).unwrap_or_default()
}

/// The i18n key of an area level's name (in this crate's texts).
pub fn level_key(level: AreaLevel) -> &'static str {
    use AreaLevel::*;
    match level {
        County => "panel.level.county",
        Town => "panel.level.town",
        Community => "panel.level.community",
        Grid => "panel.level.grid",
        MicroGrid => "panel.level.micro_grid",
    }
}
