//! Small HTML helpers: escaping, byte sizes, table rows.

/// Escape text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub use crate::units::bytes;

/// A row of a two-column key/value table (the key is escaped, the value is HTML).
pub fn row(key: &str, value_html: &str) -> String {
    format!(
        "<tr><th style=\"text-align:left\">{}</th><td style=\"text-align:left\">{value_html}</td></tr>",
        escape(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_sizes() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(34_560), "33.75 kiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.00 GiB");
    }

    #[test]
    fn escapes_apostrophes() {
        // A name in a single-quoted attribute, or a catalogue folder like "Ana's images".
        assert_eq!(escape("Ana's images"), "Ana&#39;s images");
        assert_eq!(escape("<td title='x'>"), "&lt;td title=&#39;x&#39;&gt;");
    }
}
