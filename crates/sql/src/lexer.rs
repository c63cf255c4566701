//! A small lexer for what patchbay reads itself before the engine's parser sees a statement:
//! the first words (which decide where a statement goes), the Databricks commands the engine
//! does not run (`SHOW`, `USE`, `DESCRIBE`), and the places named parameters (`:name`) stand.
//!
//! It knows Databricks SQL's quoting: `'…'` and `"…"` strings (a doubled quote inside is one,
//! and a backslash escapes as in Spark: `\'`, `\\`, `\n`, `\t`, …), `` `…` `` identifiers (a
//! doubled backtick inside is one), `--` and nested `/* */` comments.

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A bare word, as written (keywords are compared case-insensitively).
    Word(String),
    /// A backticked identifier, unquoted.
    Quoted(String),
    /// A string literal's value.
    Str(String),
    /// A named parameter marker `:name`.
    Parameter(String),
    /// Any other character: `.`, `,`, `(`, `;`, `*`, …
    Symbol(char),
}

impl Token {
    /// Whether this is the keyword `word`.
    pub fn is(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(word))
    }

    /// The token as an error message shows it.
    pub fn describe(&self) -> String {
        match self {
            Token::Word(w) | Token::Str(w) => format!("'{w}'"),
            Token::Quoted(w) => format!("`{w}`"),
            Token::Parameter(p) => format!(":{p}"),
            Token::Symbol(c) => format!("'{c}'"),
        }
    }

    /// The identifier this token names, bare or backticked.
    pub fn identifier(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            _ => None,
        }
    }
}

/// A token and where it is in the text (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned {
    pub token: Token,
    pub start: usize,
    pub end: usize,
}

/// Why text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError(pub String);

/// Splits `text` into tokens, comments and whitespace dropped.
pub fn tokens(text: &str) -> Result<Vec<Spanned>, LexError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                if depth != 0 {
                    return Err(LexError("a comment is not closed".into()));
                }
                continue;
            }
            b'\'' | b'"' | b'`' => {
                let (value, next) = quoted(text, i, c)?;
                i = next;
                let token = if c == b'`' { Token::Quoted(value) } else { Token::Str(value) };
                out.push(Spanned { token, start, end: i });
                continue;
            }
            // `:name` is a parameter, but right after a value (`raw:a.b`, `f(x):a`) it is
            // Databricks' path into JSON text, and a `::` is a cast.
            b':' if bytes.get(i + 1).is_some_and(|b| is_word_start(*b))
                && !(i > 0 && ends_a_value(bytes[i - 1])) =>
            {
                i += 1;
                while i < bytes.len() && is_word_part(bytes[i]) {
                    i += 1;
                }
                out.push(Spanned {
                    token: Token::Parameter(text[start + 1..i].to_owned()),
                    start,
                    end: i,
                });
                continue;
            }
            _ if is_word_part(c) => {
                while i < bytes.len() && is_word_part(bytes[i]) {
                    i += 1;
                }
                out.push(Spanned { token: Token::Word(text[start..i].to_owned()), start, end: i });
                continue;
            }
            _ => {
                let ch = text[i..].chars().next().expect("a character");
                i += ch.len_utf8();
                out.push(Spanned { token: Token::Symbol(ch), start, end: i });
            }
        }
    }
    Ok(out)
}

/// Whether a value can end with `b`, so that a `:` right after it reads into the value.
fn ends_a_value(b: u8) -> bool {
    is_word_part(b) || matches!(b, b':' | b')' | b']' | b'`' | b'\'' | b'"')
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_word_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A quoted string or identifier starting at `start`; a doubled quote stands for one, and in a
/// string a backslash escapes the character after it.
fn quoted(text: &str, start: usize, quote: u8) -> Result<(String, usize), LexError> {
    let bytes = text.as_bytes();
    let mut value = String::new();
    let mut i = start + 1;
    let mut run = i;
    while i < bytes.len() {
        if bytes[i] == b'\\' && quote != b'`' && i + 1 < bytes.len() {
            value.push_str(&text[run..i]);
            let escaped = text[i + 1..].chars().next().expect("a character");
            value.push_str(&unescaped(escaped));
            i += 1 + escaped.len_utf8();
            run = i;
            continue;
        }
        if bytes[i] == quote {
            value.push_str(&text[run..i]);
            if bytes.get(i + 1) == Some(&quote) {
                value.push(quote as char);
                i += 2;
                run = i;
                continue;
            }
            return Ok((value, i + 1));
        }
        i += 1;
    }
    Err(LexError(format!(
        "a {} is not closed",
        if quote == b'`' { "quoted name" } else { "string" }
    )))
}

/// What `\\c` in a string stands for, as Spark reads it: a control character for `0 b n r t
/// Z`, and the character itself for any other but `%` and `_`, which keep their backslash (they
/// escape `LIKE`'s wildcards).
fn unescaped(c: char) -> String {
    match c {
        '0' => "\0".into(),
        'b' => "\u{8}".into(),
        'n' => "\n".into(),
        'r' => "\r".into(),
        't' => "\t".into(),
        'Z' => "\u{1a}".into(),
        '%' | '_' => format!("\\{c}"),
        other => other.into(),
    }
}

/// The first words of a statement, upper-cased, up to `n` of them.
pub fn leading_words(tokens: &[Spanned], n: usize) -> Vec<String> {
    tokens
        .iter()
        .take(n)
        .map_while(|t| match &t.token {
            Token::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

/// A string literal in Databricks SQL with this value.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Token> {
        tokens(text).unwrap().into_iter().map(|s| s.token).collect()
    }

    #[test]
    fn strings_identifiers_and_comments() {
        assert_eq!(
            kinds("SELECT 'it''s', `a``b` -- no\n /* x /* y */ z */ FROM t"),
            vec![
                Token::Word("SELECT".into()),
                Token::Str("it's".into()),
                Token::Symbol(','),
                Token::Quoted("a`b".into()),
                Token::Word("FROM".into()),
                Token::Word("t".into()),
            ]
        );
        assert!(tokens("SELECT 'open").is_err());
        assert!(tokens("SELECT /* open").is_err());
    }

    #[test]
    fn parameters_but_not_casts_or_quoted_colons() {
        assert_eq!(
            kinds("x = :id AND y::int = ':no'"),
            vec![
                Token::Word("x".into()),
                Token::Symbol('='),
                Token::Parameter("id".into()),
                Token::Word("AND".into()),
                Token::Word("y".into()),
                Token::Symbol(':'),
                Token::Symbol(':'),
                Token::Word("int".into()),
                Token::Symbol('='),
                Token::Str(":no".into()),
            ]
        );
    }

    #[test]
    fn backslashes_escape_in_strings_as_in_spark_but_not_in_names() {
        assert_eq!(
            kinds(r"'it\'s' 'a\\b' 'tab\there' 'x\_y' `c\d` 'q\é'"),
            vec![
                Token::Str("it's".into()),
                Token::Str("a\\b".into()),
                Token::Str("tab\there".into()),
                Token::Str("x\\_y".into()),
                Token::Quoted("c\\d".into()),
                Token::Str("qé".into()),
            ]
        );
        // A backslash before the closing quote escapes it: the string is not closed.
        assert!(tokens(r"SELECT 'open\'").is_err());
    }

    #[test]
    fn a_colon_right_after_a_value_is_a_json_path_not_a_parameter() {
        assert_eq!(
            kinds("raw:a.b = :v AND f(x):c IN(:w) AND `j`:d"),
            vec![
                Token::Word("raw".into()),
                Token::Symbol(':'),
                Token::Word("a".into()),
                Token::Symbol('.'),
                Token::Word("b".into()),
                Token::Symbol('='),
                Token::Parameter("v".into()),
                Token::Word("AND".into()),
                Token::Word("f".into()),
                Token::Symbol('('),
                Token::Word("x".into()),
                Token::Symbol(')'),
                Token::Symbol(':'),
                Token::Word("c".into()),
                Token::Word("IN".into()),
                Token::Symbol('('),
                Token::Parameter("w".into()),
                Token::Symbol(')'),
                Token::Word("AND".into()),
                Token::Quoted("j".into()),
                Token::Symbol(':'),
                Token::Word("d".into()),
            ]
        );
    }

    #[test]
    fn string_literals_double_their_quotes_and_escape_backslashes() {
        assert_eq!(string_literal("a'b"), "'a''b'");
        assert_eq!(string_literal("a\\b"), r"'a\\b'");
        for value in ["x' OR '1'='1", "a\\", "\\' OR 1=1 --", "tab\t"] {
            assert_eq!(kinds(&string_literal(value)), vec![Token::Str(value.into())], "{value}");
        }
    }
}
