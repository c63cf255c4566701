//! Numeric ids as the Databricks API shows them: decimal strings in SCIM, JSON numbers elsewhere.

/// Smallest and largest generated id. Sixteen digits like real workspace ids, and below 2^53 so
/// that JavaScript clients read them exactly.
const ID_RANGE: std::ops::Range<i64> = 1_000_000_000_000_000..9_000_000_000_000_000;

/// A new random id for a principal or a workspace. Random rather than sequential so that ids
/// say nothing about how many principals exist and cannot be guessed.
pub fn new_numeric_id() -> i64 {
    rand::random_range(ID_RANGE)
}

/// Parses an id given in a URL or a filter. Anything that is not a plain positive decimal is
/// simply not an id (no such object), never an error of its own.
pub fn parse_numeric_id(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|id| *id > 0)
}

/// A new application id (UUID v4, lower case) for a service principal created without one.
pub fn new_application_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Normalizes an application id given by a client: a UUID in any case becomes lower case.
pub fn parse_application_id(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim()).ok().map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_sixteen_digits_and_javascript_safe() {
        for _ in 0..1000 {
            let id = new_numeric_id();
            assert_eq!(id.to_string().len(), 16);
            assert!(id < (1 << 53));
        }
    }

    #[test]
    fn only_plain_positive_decimals_are_ids() {
        assert_eq!(parse_numeric_id("7535194597985784"), Some(7535194597985784));
        for bad in ["", "0", "-1", "+1", "1e3", " 1", "99999999999999999999", "abc"] {
            assert_eq!(parse_numeric_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn application_ids_are_normalized_uuids() {
        let id = new_application_id();
        assert_eq!(parse_application_id(&id.to_uppercase()), Some(id));
        assert_eq!(parse_application_id("not-a-uuid"), None);
    }
}
