//! Where an area sits in the tree: the materialised path of ids from the county down,
//! `/1/5/23/` (county 1, town 5, community 23).
//!
//! Areas store their path; members, staff users, reports and notices store their area's path
//! too, so "in the subtree of `/1/5/`" is the byte range `/1/5/` ≤ path < `/1/50` (see
//! [`AreaPath::range_end`]), which an ordinary index serves at any size. This type is the one
//! place that knows the format: everything else asks it for ids, ancestors and subtrees.

use std::fmt;

use super::AreaLevel;

/// A well-formed area path: `/`, then one or more decimal ids each followed by `/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AreaPath(String);

impl AreaPath {
    /// Reads a path (`/1/5/23/`); `None` unless it is one.
    pub fn parse(s: &str) -> Option<AreaPath> {
        let inner = s.strip_prefix('/')?.strip_suffix('/')?;
        let well_formed = !inner.is_empty()
            && inner.split('/').all(|id| {
                !id.is_empty() && id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit())
            });
        well_formed.then(|| AreaPath(s.to_owned()))
    }

    /// A path as the database holds it: written by [`AreaPath::root`] and [`AreaPath::child`]
    /// only, so well-formed. Anything else still reads safely (its ids are those that parse).
    pub fn stored(s: impl Into<String>) -> AreaPath {
        AreaPath(s.into())
    }

    /// The path of the tree's root (the county) with id `id`.
    pub fn root(id: i64) -> AreaPath {
        AreaPath(format!("/{id}/"))
    }

    /// The path of a child area with id `id` under this one.
    pub fn child(&self, id: i64) -> AreaPath {
        AreaPath(format!("{}{id}/", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The ids along the path, from the county down to the area itself.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.split('/').filter_map(|s| s.parse().ok())
    }

    /// How many areas the path holds: 1 for the county, 2 for a town …
    pub fn depth(&self) -> usize {
        self.ids().count()
    }

    /// Whether this is the root's path (the county).
    pub fn is_root(&self) -> bool {
        self.depth() == 1
    }

    /// The area's own id (the last one).
    pub fn id(&self) -> Option<i64> {
        self.ids().last()
    }

    /// The path of the parent area; `None` for the root.
    pub fn parent(&self) -> Option<AreaPath> {
        let depth = self.depth();
        (depth > 1).then(|| self.truncated(depth - 1))
    }

    /// The path cut after its first `depth` areas (the whole path when it is not deeper).
    pub fn truncated(&self, depth: usize) -> AreaPath {
        let mut seen = 0;
        for (i, b) in self.0.bytes().enumerate() {
            if b == b'/' && i > 0 {
                seen += 1;
                if seen == depth {
                    return AreaPath(self.0[..=i].to_owned());
                }
            }
        }
        self.clone()
    }

    /// The root's path (the county this area belongs to).
    pub fn root_path(&self) -> AreaPath {
        self.truncated(1)
    }

    /// The id of the ancestor at `level` (the area itself if it is at that level); `None` when
    /// the area sits higher.
    pub fn id_at(&self, level: AreaLevel) -> Option<i64> {
        self.ids().nth(level as usize)
    }

    /// The paths of every ancestor and of the area itself, from the county down.
    pub fn ancestors(&self) -> Vec<AreaPath> {
        (1..=self.depth()).map(|d| self.truncated(d)).collect()
    }

    /// Whether the area at `other` (a path) lies in this subtree (itself included).
    pub fn contains(&self, other: impl AsRef<str>) -> bool {
        other.as_ref().starts_with(self.0.as_str())
    }

    /// The smallest string above every path of this subtree: the exclusive end of its range.
    /// `/` is the byte before `0`, so `/1/5/` → `/1/50`.
    pub fn range_end(&self) -> String {
        let trimmed = self.0.strip_suffix('/').unwrap_or(&self.0);
        format!("{trimmed}0")
    }
}

impl AsRef<str> for AreaPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AreaPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<AreaPath> for String {
    fn from(p: AreaPath) -> String {
        p.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> AreaPath {
        AreaPath::parse(s).unwrap()
    }

    #[test]
    fn parse_accepts_paths_only() {
        for ok in ["/1/", "/1/5/", "/1/5/23/99/"] {
            assert_eq!(p(ok).as_str(), ok);
        }
        for bad in [
            "",
            "/",
            "//",
            "1/5/",
            "/1/5",
            "/1//5/",
            "/1/x/",
            "/-1/",
            "/ 1/",
            "#pending#0#a",
            "/1234567890123456789/",
        ] {
            assert_eq!(AreaPath::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ids_depth_and_levels() {
        let micro = p("/1/5/23/99/140/");
        assert_eq!(micro.ids().collect::<Vec<_>>(), [1, 5, 23, 99, 140]);
        assert_eq!(micro.depth(), 5);
        assert_eq!(micro.id(), Some(140));
        assert_eq!(micro.id_at(AreaLevel::County), Some(1));
        assert_eq!(micro.id_at(AreaLevel::Community), Some(23));
        assert_eq!(p("/1/5/").id_at(AreaLevel::Community), None);
        assert!(p("/1/").is_root());
        assert!(!p("/1/5/").is_root());
    }

    #[test]
    fn parents_and_ancestors() {
        let community = p("/1/5/23/");
        assert_eq!(community.parent(), Some(p("/1/5/")));
        assert_eq!(p("/1/").parent(), None);
        assert_eq!(community.root_path(), p("/1/"));
        assert_eq!(community.truncated(3), community);
        assert_eq!(community.truncated(9), community);
        assert_eq!(
            community.ancestors(),
            [p("/1/"), p("/1/5/"), community.clone()]
        );
        assert_eq!(AreaPath::root(1).child(5).child(23), community);
    }

    #[test]
    fn subtrees_are_ranges() {
        let town = p("/1/5/");
        assert!(town.contains("/1/5/"));
        assert!(town.contains(p("/1/5/23/")));
        assert!(!town.contains("/1/50/"));
        assert!(!town.contains("/1/"));
        assert_eq!(town.range_end(), "/1/50");
        for inside in ["/1/5/", "/1/5/9/", "/1/5/999999/1/"] {
            assert!(inside >= town.as_str() && inside < town.range_end().as_str());
        }
        for outside in ["/1/50/", "/1/6/", "/1/4/", "/1/"] {
            assert!(!(outside >= town.as_str() && outside < town.range_end().as_str()));
        }
    }

    #[test]
    fn stored_text_that_is_no_path_reads_safely() {
        let odd = AreaPath::stored("#pending#0#a");
        assert_eq!(odd.ids().count(), 0);
        assert_eq!(odd.parent(), None);
        assert_eq!(odd.id_at(AreaLevel::Town), None);
    }
}
