//! What every page template gets: [`PageCtx`] (locale, CSRF token, the user badge, navigation,
//! language switch, asset URLs) and the text helpers templates call (`page.t("key")`).

use chrono::{DateTime, Utc};
use rust_i18n::t;

use crate::app::AppState;
use crate::panel::session::{Ctx, CurrentUser};

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
        t!(key, locale = self.locale).into_owned()
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
            title: t!(title_key, locale = locale).into_owned(),
            csrf: String::new(),
            user: None,
            nav: Vec::new(),
            lang_href: with_param(uri, "lang", other),
            lang_label: t!("panel.lang.switch", locale = locale).into_owned(),
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
        let area = gridline_shared::entity::area::Entity::find_by_id(self.user.area_id);
        use sea_orm::EntityTrait;
        let area_name = match area.one(state.db.conn()).await {
            Ok(Some(a)) => a.name,
            _ => String::new(),
        };
        page.user = Some(UserBadge {
            name: self.user.display_name.clone(),
            role: t!(
                format!("panel.role.{}", self.user.role.code()),
                locale = self.locale
            )
            .into_owned(),
            area: area_name,
        });
        page.nav = NAV
            .iter()
            .filter(|n| !n.admin_only || self.user.role.is_admin())
            // The chat simulator: only when turned on, for staff who may act.
            .filter(|n| {
                n.key != "simulator" || (state.settings.simulator && self.user.role.can_act())
            })
            .map(|n| NavItem {
                href: n.href,
                label: t!(n.label, locale = self.locale).into_owned(),
                active: n.key == nav_key,
            })
            .collect();
        page
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
