//! Text for HTML and XML pages and reports.

/// `text` escaped for an HTML or XML element or attribute value. The control characters XML
/// 1.0 forbids (and HTML calls parse errors) become `?`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_ascii_control() && !matches!(c, '\n' | '\r' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_and_forbidden_controls_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'\u{1}\u{7f}\t\n</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;??\t\n&lt;/a&gt;"
        );
        assert_eq!(escape("plain, ünïcode"), "plain, ünïcode");
    }
}
