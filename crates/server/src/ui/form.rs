//! URL-encoded form fields and query strings, with repeated keys kept (several `schemas`).

/// The fields of a form or query string, in order.
#[derive(Debug, Default, Clone)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(bytes: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        )
    }

    pub fn from_query(query: Option<&str>) -> Fields {
        Fields::parse(query.unwrap_or_default().as_bytes())
    }

    /// The first non-empty value of a field, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).find(|v| !v.is_empty())
    }

    /// Every non-empty value of a repeated field, without duplicates.
    pub fn all(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, v) in self.0.iter().filter(|(k, _)| k == name) {
            let v = v.trim();
            if !v.is_empty() && !out.iter().any(|o| o == v) {
                out.push(v.to_owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_are_kept_and_blank_ones_dropped() {
        let f = Fields::parse(b"schemas=sales&schemas=ops&schemas=&schemas=sales&q=+a%20b+");
        assert_eq!(f.all("schemas"), ["sales", "ops"]);
        assert_eq!(f.get("q"), Some("a b"));
        assert_eq!(f.get("missing"), None);
    }
}
