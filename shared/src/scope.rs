//! What a staff user may see: one subtree of the area tree.
//!
//! A [`Scope`] is an argument of every query that lists or fetches reports, members or areas,
//! so no caller can forget it. The subtree test is a range on a materialised path
//! (`/1/5/` ≤ path < `/1/50`), which an ordinary index answers at any size.

use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, SimpleExpr};

use crate::domain::AreaPath;
use crate::entity::area;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    area_id: i64,
    path: AreaPath,
}

impl Scope {
    /// The subtree under (and including) `area`.
    pub fn of_area(area: &area::Model) -> Scope {
        Scope {
            area_id: area.id,
            path: AreaPath::stored(area.path.clone()),
        }
    }

    /// Builds a scope from a stored id and path (e.g. a staff user's row).
    pub fn from_parts(area_id: i64, path: impl Into<String>) -> Scope {
        Scope {
            area_id,
            path: AreaPath::stored(path),
        }
    }

    pub fn area_id(&self) -> i64 {
        self.area_id
    }

    pub fn path(&self) -> &str {
        self.path.as_str()
    }

    /// The path of the scope's area.
    pub fn area_path(&self) -> &AreaPath {
        &self.path
    }

    /// Whether an area (by its path) lies in this subtree.
    pub fn contains(&self, path: &str) -> bool {
        self.path.contains(path)
    }

    /// Whether `other` lies entirely inside this scope.
    pub fn covers(&self, other: &Scope) -> bool {
        self.path.contains(&other.path)
    }

    /// The smallest path above every path of this subtree (the exclusive end of its range).
    pub fn path_end(&self) -> String {
        self.path.range_end()
    }

    /// SQL condition: `col` (a materialised path column) lies in this subtree.
    pub fn condition(&self, col: impl IntoColumnRef + Clone) -> SimpleExpr {
        Expr::col(col.clone())
            .gte(self.path.as_str())
            .and(Expr::col(col).lt(self.path.range_end()))
    }
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
        assert_eq!(s.path_end(), "/1/50");
        assert!(Scope::from_parts(1, "/1/").covers(&s));
        assert!(!s.covers(&Scope::from_parts(1, "/1/")));
    }
}
