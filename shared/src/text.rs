//! Small text helpers every part of Gridline needs, one of each: HTML escaping (Telegram's HTML
//! parse mode and the panel's hand-built fragments), shortening with an ellipsis, and cells a
//! spreadsheet will not run as formulas.

use std::borrow::Cow;

/// Escapes `&`, `<`, `>` and `"` for HTML text and double-quoted attribute values (what
/// Telegram's HTML parse mode accepts as named entities).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The first `n` characters, with an ellipsis when cut.
pub fn excerpt(text: &str, n: usize) -> String {
    let mut out: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        out.push('…');
    }
    out
}

/// A cell a spreadsheet will not run as a formula: a leading `= + - @`, tab or carriage
/// return gets a `'` in front.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">A&B</a> it's"#),
            "&lt;a href=&quot;x&quot;&gt;A&amp;B&lt;/a&gt; it's"
        );
        assert_eq!(escape_html("微网格"), "微网格");
    }

    #[test]
    fn excerpts() {
        assert_eq!(excerpt("一二三四", 2), "一二…");
        assert_eq!(excerpt("一二", 2), "一二");
        assert_eq!(excerpt("", 0), "");
    }

    #[test]
    fn formulas_are_defused() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(bad), format!("'{bad}"));
        }
        assert_eq!(spreadsheet_safe("张三"), "张三");
        assert_eq!(spreadsheet_safe("1=1"), "1=1");
    }
}
