//! What a staff user may see: one subtree of the area tree.
//!
//! A [`Scope`] is an argument of every query that lists or fetches reports, members or areas,
//! so no caller can forget it. The subtree test is a range on a materialised path
//! (`/1/5/` ≤ path < `/1/50`), which an ordinary index answers at any size.

use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, SimpleExpr};

use crate::entity::area;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    area_id: i64,
    path: String,
}

impl Scope {
    /// The subtree under (and including) `area`.
    pub fn of_area(area: &area::Model) -> Scope {
        Scope {
            area_id: area.id,
            path: area.path.clone(),
        }
    }

    /// Builds a scope from a stored id and path (e.g. a staff user's row).
    pub fn from_parts(area_id: i64, path: impl Into<String>) -> Scope {
        Scope {
            area_id,
            path: path.into(),
        }
    }

    pub fn area_id(&self) -> i64 {
        self.area_id
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether an area (by its path) lies in this subtree.
    pub fn contains(&self, path: &str) -> bool {
        path.starts_with(&self.path)
    }

    /// Whether `other` lies entirely inside this scope.
    pub fn covers(&self, other: &Scope) -> bool {
        self.contains(&other.path)
    }

    /// The smallest path above every path of this subtree (the exclusive end of its range).
    pub fn path_end(&self) -> String {
        upper_bound(&self.path)
    }

    /// SQL condition: `col` (a materialised path column) lies in this subtree.
    pub fn condition(&self, col: impl IntoColumnRef + Clone) -> SimpleExpr {
        Expr::col(col.clone())
            .gte(self.path.clone())
            .and(Expr::col(col).lt(upper_bound(&self.path)))
    }
}

/// The smallest string greater than every path that starts with `path` (which ends in `/`).
fn upper_bound(path: &str) -> String {
    // '/' is 0x2F and '0' is 0x30: replacing the trailing '/' by '0' bounds the subtree.
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    format!("{trimmed}0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_bounds() {
        let s = Scope::from_parts(5, "/1/5/");
        assert!(s.contains("/1/5/"));
        assert!(s.contains("/1/5/23/"));
        assert!(!s.contains("/1/50/"));
        assert!(!s.contains("/1/"));
        assert_eq!(upper_bound("/1/5/"), "/1/50");
        for p in ["/1/5/", "/1/5/9/", "/1/5/999999/1/"] {
            assert!(p >= "/1/5/" && p < upper_bound("/1/5/").as_str(), "{p}");
        }
        for p in ["/1/50/", "/1/6/", "/1/4/", "/1/"] {
            assert!(!(p >= "/1/5/" && p < upper_bound("/1/5/").as_str()), "{p}");
        }
        assert!(Scope::from_parts(1, "/1/").covers(&s));
        assert!(!s.covers(&Scope::from_parts(1, "/1/")));
    }
}
