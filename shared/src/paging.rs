//! Keyset pages by id: fetch `limit + 1` rows after a known id, keep `limit`, and continue
//! after the last one kept when there was one more. Never a deep OFFSET.

/// The first `limit` of the `limit + 1` rows fetched, and the id to continue after when there
/// were more.
pub fn split<T>(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more { rows.last().map(id) } else { None };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn pages() {
        assert_eq!(split(vec![5, 4, 3], 2, |x| *x), (vec![5, 4], Some(4)));
        assert_eq!(split(vec![5, 4], 2, |x| *x), (vec![5, 4], None));
        assert_eq!(split(Vec::<i64>::new(), 2, |x| *x), (vec![], None));
    }
}
