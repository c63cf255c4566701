//! SCIM filter expressions (RFC 7644 §3.4.2.2): parsing the `filter` query parameter of a list
//! request into a [`Filter`], and deciding whether a resource, held as JSON, matches it.
//!
//! The parser follows the RFC grammar and also accepts what real clients send: unquoted values
//! (`userName eq a@b.com`, as in the Databricks documentation), operators and keywords in any
//! case, and extra whitespace. It never panics and never recurses without bound: the filter's
//! length, its number of expressions and its nesting are capped ([`MAX_FILTER_LEN`],
//! [`MAX_FILTER_NODES`], [`MAX_FILTER_DEPTH`]) and every error says what was expected where.
//!
//! Parsing takes the text as the HTTP layer decoded it: turning `+` into a space (form
//! encoding) is the caller's business.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Number, Value};

/// Longest filter accepted, in bytes of text. A filter is a query parameter: anything longer is
/// abuse, not a question.
pub const MAX_FILTER_LEN: usize = 4096;

/// Most comparison and logical expressions in one filter (Databricks' own limit). Bounds the
/// work of evaluating a filter against every resource of a list request.
pub const MAX_FILTER_NODES: usize = 200;

/// Deepest nesting of parentheses, `not (...)` and value paths `attr[...]`. Bounds the
/// parser's recursion so that no input can overflow the stack.
pub const MAX_FILTER_DEPTH: usize = 32;

/// The URN prefix of the core schemas (User, Group, ServicePrincipal, ...), whose attributes sit
/// at the top level of a resource rather than under their URN.
const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";

/// An attribute path: optional schema URN, attribute name, optional sub-attribute. Names the
/// attribute a filter tests or a PATCH operation changes, e.g. `name.givenName` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN the attribute belongs to, as written, when the path is fully qualified.
    pub urn: Option<String>,
    /// The attribute's name, as written (matching is case-insensitive).
    pub name: String,
    /// The sub-attribute of a complex attribute, e.g. `givenName` in `name.givenName`.
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses a path as written in a filter or a PATCH `path`, without a value filter. A URN
    /// prefix is split off at its last `:`, since URNs themselves contain dots (`2.0`).
    pub fn parse(s: &str) -> Result<AttrPath, FilterError> {
        parse_attr_path(s)
            .map_err(|msg| FilterError { message: format!("Invalid attribute path '{s}': {msg}") })
    }

    /// A path to a top-level attribute of the core schema, for building paths in code.
    pub fn simple(name: &str) -> AttrPath {
        AttrPath { urn: None, name: name.to_owned(), sub: None }
    }
}

impl fmt::Display for AttrPath {
    /// Writes the path back as SCIM text, for error messages and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator of RFC 7644 §3.4.2.2. `pr` (present) is [`Filter::Present`] instead,
/// since it takes no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains (strings).
    Co,
    /// Starts with (strings).
    Sw,
    /// Ends with (strings).
    Ew,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, in the order the RFC lists them; for tests and error messages.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The operator's keyword in lower case, as the RFC writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator for a keyword in any case, or `None`.
    fn from_keyword(word: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|op| word.eq_ignore_ascii_case(op.as_str()))
    }
}

/// The literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CompValue {
    /// A quoted string (escapes decoded) or an unquoted value that is not a number, boolean or
    /// null, such as `a@b.com` or a UUID.
    Str(String),
    /// A number, kept as written so that large ids lose no digits.
    Number(String),
    /// `true` or `false`, in any case.
    Bool(bool),
    /// `null`, in any case.
    Null,
}

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    /// Both sides match.
    And(Box<Filter>, Box<Filter>),
    /// Either side matches.
    Or(Box<Filter>, Box<Filter>),
    /// The inner filter does not match (`not (...)`).
    Not(Box<Filter>),
    /// `path op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal compared with.
        value: CompValue,
    },
    /// `path pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `emails[type eq "work" and value co "@x"]` — the inner filter applies to each element;
    /// inner attribute paths are relative to the element (e.g. `type`, `value`).
    ValuePath {
        /// The (usually multi-valued) attribute whose elements are tested.
        attr: AttrPath,
        /// The condition one element must meet.
        filter: Box<Filter>,
    },
}

/// Why a filter (or a PATCH path) could not be parsed, in words a person can act on, e.g.
/// `Invalid filter 'userName eq': expected a value after 'eq' at position 11`. Positions count
/// characters from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    /// The whole message, ready for a SCIM error's `detail`.
    pub message: String,
}

/// Parses a SCIM filter (the `filter` query parameter of a list request).
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(FilterError {
            message: format!(
                "Filter is longer than {MAX_FILTER_LEN} bytes ({} bytes)",
                input.len()
            ),
        });
    }
    let mut p = Parser::new(input, "filter");
    p.skip_ws();
    if p.at_end() {
        return Err(FilterError {
            message: format!("Invalid filter '{input}': the filter is empty"),
        });
    }
    let filter = p.parse_or(0, false)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected("'and' or 'or'"));
    }
    Ok(filter)
}

/// Parses a PATCH path (`attrPath` or `attrPath[valFilter]` with an optional `.subAttr` after
/// the bracket) into its parts. Lives here because it shares the filter parser; `patch` wraps
/// it into its own type and error.
pub(crate) fn parse_patch_path(
    input: &str,
) -> Result<(AttrPath, Option<Filter>, Option<String>), FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(FilterError {
            message: format!("Path is longer than {MAX_FILTER_LEN} bytes ({} bytes)", input.len()),
        });
    }
    let mut p = Parser::new(input, "path");
    p.skip_ws();
    if p.at_end() {
        return Err(FilterError { message: format!("Invalid path '{input}': the path is empty") });
    }
    let attr = p.parse_path_token()?;
    let mut filter = None;
    let mut sub = None;
    if p.peek() == Some('[') {
        if attr.sub.is_some() {
            return Err(p.err(
                p.pos,
                "a value filter '[...]' must follow an attribute, not a sub-attribute",
            ));
        }
        filter = Some(p.parse_bracket(0, false)?);
        if p.peek() == Some('.') {
            p.pos += 1;
            let start = p.pos;
            let name = p.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'));
            if !is_attr_name(name) {
                return Err(p.err(start, "expected a sub-attribute name after '.'"));
            }
            sub = Some(name.to_owned());
        }
    }
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected("the end of the path"));
    }
    Ok((attr, filter, sub))
}

/// Whether `resource` (a SCIM resource as JSON) matches `filter`, comparing strings without
/// regard to case (the SCIM default, `caseExact: false`, for every attribute).
pub fn matches(filter: &Filter, resource: &Value) -> bool {
    matches_with(filter, resource, &|_| false)
}

/// Like [`matches`], with the schema's say on which attributes compare strings case-exactly
/// (e.g. `id`, `externalId`). Inside a value path the callback sees the qualified path, e.g.
/// `emails.value` for `emails[value eq "x"]`.
pub fn matches_with(
    filter: &Filter,
    resource: &Value,
    case_exact: &dyn Fn(&AttrPath) -> bool,
) -> bool {
    eval(filter, resource, None, case_exact)
}

/// Whether a URN names a core schema, whose attributes sit at the top level of a resource.
pub(crate) fn is_core_schema_urn(urn: &str) -> bool {
    starts_with_ci(urn, CORE_SCHEMA_PREFIX)
}

/// ASCII case-insensitive prefix test that cannot panic on a char boundary.
pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The value under `key` in a JSON object, the exact spelling first, then any spelling
/// (SCIM attribute names are case-insensitive).
pub(crate) fn get_ci<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

// ---------------------------------------------------------------------------------------------
// Attribute paths

/// A character that may appear in an attribute path token (names, dots, URN parts).
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-' | '$')
}

/// `ATTRNAME = ALPHA *(nameChar)`, also allowing a leading `$` for `$ref`.
fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'))
}

fn parse_attr_path(s: &str) -> Result<AttrPath, String> {
    if s.is_empty() {
        return Err("the attribute name is empty".into());
    }
    if let Some(c) = s.chars().find(|c| !is_path_char(*c)) {
        return Err(format!("'{c}' cannot appear in an attribute path"));
    }
    let (urn, rest) = if starts_with_ci(s, "urn:") {
        // URNs contain dots ("2.0"), so the attribute starts after the last ':'.
        let Some(i) = s.rfind(':') else {
            return Err("expected a schema URN".into());
        };
        let (urn, rest) = (&s[..i], &s[i + 1..]);
        if urn.len() <= "urn".len() || urn.ends_with(':') || urn.contains("::") {
            return Err(format!("'{urn}' is not a schema URN"));
        }
        (Some(urn.to_owned()), rest)
    } else {
        if s.contains(':') {
            return Err("':' is only allowed in a schema URN prefix, as in \
                 urn:ietf:params:scim:schemas:core:2.0:User:userName"
                .into());
        }
        (None, s)
    };
    if rest.is_empty() {
        return Err("expected an attribute name after the schema URN".into());
    }
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !is_attr_name(name) {
        return Err(format!(
            "'{name}' is not an attribute name (a letter, then letters, digits, '-', '_' or '$')"
        ));
    }
    if let Some(sub) = sub
        && !is_attr_name(sub)
    {
        return Err(if sub.contains('.') {
            "a path has at most one sub-attribute (attribute.subAttribute)".to_owned()
        } else {
            format!("'{sub}' is not a sub-attribute name")
        });
    }
    Ok(AttrPath { urn, name: name.to_owned(), sub: sub.map(str::to_owned) })
}

// ---------------------------------------------------------------------------------------------
// Parser

/// Whitespace between tokens. The RFC says one space; tabs and line breaks cost nothing.
fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Characters that end a keyword or operator word.
fn ends_word(c: char) -> bool {
    is_ws(c) || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// A recursive-descent parser over the filter text. Recursion happens only on `(`, `not (` and
/// `[`, each of which counts one level against [`MAX_FILTER_DEPTH`] before descending; `and`
/// and `or` chains are loops.
struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next character; always on a char boundary.
    pos: usize,
    /// Expressions built so far, against [`MAX_FILTER_NODES`].
    nodes: usize,
    /// "filter" or "path", for messages.
    kind: &'static str,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, kind: &'static str) -> Self {
        Parser { src, pos: 0, nodes: 0, kind }
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    /// Skips whitespace; tells whether there was any.
    fn skip_ws(&mut self) -> bool {
        let skipped = self.take_while(is_ws);
        !skipped.is_empty()
    }

    /// Consumes and returns the longest run of characters meeting `f`.
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// The word (keyword, operator or stray text) starting at the current position, without
    /// consuming it.
    fn peek_word(&self) -> &'a str {
        let rest = self.rest();
        let len = rest.find(ends_word).unwrap_or(rest.len());
        &rest[..len]
    }

    /// An error at byte offset `at`, reported as a character position.
    fn err(&self, at: usize, msg: impl fmt::Display) -> FilterError {
        let column = self.src.get(..at).map_or(0, |s| s.chars().count());
        FilterError {
            message: format!("Invalid {} '{}': {msg} at position {column}", self.kind, self.src),
        }
    }

    /// Describes what stands at the current position, for "expected X, found Y".
    fn found(&self) -> String {
        match self.peek() {
            None => format!("the end of the {}", self.kind),
            Some(c) if ends_word(c) => format!("'{c}'"),
            Some(_) => format!("'{}'", self.peek_word()),
        }
    }

    fn unexpected(&self, expected: &str) -> FilterError {
        self.err(self.pos, format!("expected {expected}, found {}", self.found()))
    }

    fn add_node(&mut self) -> Result<(), FilterError> {
        self.nodes += 1;
        if self.nodes > MAX_FILTER_NODES {
            return Err(FilterError {
                message: format!(
                    "{} has more than {MAX_FILTER_NODES} expressions",
                    capitalized(self.kind)
                ),
            });
        }
        Ok(())
    }

    fn enter(&self, depth: usize) -> Result<usize, FilterError> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(FilterError {
                message: format!(
                    "{} nests more than {MAX_FILTER_DEPTH} levels deep",
                    capitalized(self.kind)
                ),
            });
        }
        Ok(depth + 1)
    }

    /// `or` binds loosest: `andExpr *("or" andExpr)`, left-associative.
    fn parse_or(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, FilterError> {
        self.parse_chain("or", Self::parse_and, Filter::Or, depth, in_value_path)
    }

    /// `unary *("and" unary)`, left-associative.
    fn parse_and(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, FilterError> {
        self.parse_chain("and", Self::parse_unary, Filter::And, depth, in_value_path)
    }

    /// `operand *(keyword operand)`, joined left-associatively.
    fn parse_chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self, usize, bool) -> Result<Filter, FilterError>,
        join: fn(Box<Filter>, Box<Filter>) -> Filter,
        depth: usize,
        in_value_path: bool,
    ) -> Result<Filter, FilterError> {
        let mut left = operand(self, depth, in_value_path)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let word = self.peek_word();
            if !word.eq_ignore_ascii_case(keyword) {
                self.pos = save;
                return Ok(left);
            }
            self.pos += word.len();
            let right = operand(self, depth, in_value_path)?;
            self.add_node()?;
            left = join(Box::new(left), Box::new(right));
        }
    }

    /// `"(" filter ")"`, `not "(" filter ")"`, or an attribute expression.
    fn parse_unary(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, FilterError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.unexpected("an attribute name or '('")),
            Some('(') => self.parse_group(depth, in_value_path),
            Some(_) if self.at_not_keyword() => {
                let not_at = self.pos;
                self.pos += 3;
                self.skip_ws();
                if self.peek() != Some('(') {
                    return Err(self.err(
                        not_at,
                        "'not' must be followed by a filter in parentheses, \
                         as in not (userName eq \"x\")",
                    ));
                }
                let inner = self.parse_group(depth, in_value_path)?;
                self.add_node()?;
                Ok(Filter::Not(Box::new(inner)))
            }
            Some(_) => self.parse_attr_expr(depth, in_value_path),
        }
    }

    /// Whether the word here is the `not` operator rather than an attribute named "not"
    /// (which would be followed by '[' or by an operator).
    fn at_not_keyword(&self) -> bool {
        if !self.peek_word().eq_ignore_ascii_case("not") {
            return false;
        }
        let after = &self.rest()[3..];
        if after.starts_with('[') {
            return false;
        }
        let next = after.trim_start_matches(is_ws);
        if next.starts_with('(') {
            return true;
        }
        let len = next.find(ends_word).unwrap_or(next.len());
        let word = &next[..len];
        !(word.eq_ignore_ascii_case("pr") || CompareOp::from_keyword(word).is_some())
    }

    /// `"(" filter ")"`, one level deeper.
    fn parse_group(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, FilterError> {
        let depth = self.enter(depth)?;
        let open = self.pos;
        self.pos += 1;
        let inner = self.parse_or(depth, in_value_path)?;
        self.skip_ws();
        match self.peek() {
            Some(')') => {
                self.pos += 1;
                Ok(inner)
            }
            None => Err(self.err(open, "missing ')' to close this '('")),
            Some(_) => Err(self.unexpected("'and', 'or' or ')'")),
        }
    }

    /// `"[" valFilter "]"` after an attribute path, one level deeper. Value paths cannot nest.
    fn parse_bracket(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, FilterError> {
        let open = self.pos;
        if in_value_path {
            return Err(self.err(open, "value filters '[...]' cannot be nested"));
        }
        let depth = self.enter(depth)?;
        self.pos += 1;
        let inner = self.parse_or(depth, true)?;
        self.skip_ws();
        match self.peek() {
            Some(']') => {
                self.pos += 1;
                Ok(inner)
            }
            None => Err(self.err(open, "missing ']' to close this '['")),
            Some(_) => Err(self.unexpected("'and', 'or' or ']'")),
        }
    }

    /// An attribute path token, validated.
    fn parse_path_token(&mut self) -> Result<AttrPath, FilterError> {
        let start = self.pos;
        let token = self.take_while(is_path_char);
        if token.is_empty() {
            return Err(self.unexpected("an attribute name"));
        }
        parse_attr_path(token)
            .map_err(|msg| self.err(start, format!("invalid attribute path '{token}': {msg}")))
    }

    /// `attrPath "pr"`, `attrPath compareOp compValue`, or `attrPath "[" valFilter "]"`.
    fn parse_attr_expr(
        &mut self,
        depth: usize,
        in_value_path: bool,
    ) -> Result<Filter, FilterError> {
        let path = self.parse_path_token()?;
        if self.peek() == Some('[') {
            let inner = self.parse_bracket(depth, in_value_path)?;
            if self.peek() == Some('.') {
                return Err(self.err(
                    self.pos,
                    "a sub-attribute after ']' is only allowed in PATCH paths; \
                     put the condition inside the brackets instead",
                ));
            }
            self.add_node()?;
            return Ok(Filter::ValuePath { attr: path, filter: Box::new(inner) });
        }
        let had_ws = self.skip_ws();
        let op_at = self.pos;
        let word = self.peek_word();
        if word.is_empty() || !had_ws {
            let what = if self.at_end() || matches!(self.peek(), Some(')' | ']')) {
                format!("expected an operator after '{path}'")
            } else {
                format!("expected an operator after '{path}', found {}", self.found())
            };
            return Err(self.err(op_at, what));
        }
        self.pos += word.len();
        if word.eq_ignore_ascii_case("pr") {
            self.add_node()?;
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            return Err(self.err(
                op_at,
                format!(
                    "unknown operator '{word}'; expected one of eq, ne, co, sw, ew, gt, ge, lt, \
                     le or pr"
                ),
            ));
        };
        self.skip_ws();
        let value = self.parse_value(word)?;
        self.add_node()?;
        Ok(Filter::Compare { path, op, value })
    }

    /// A quoted string, `true`/`false`/`null`, a number, or an unquoted run of text.
    fn parse_value(&mut self, op_word: &str) -> Result<CompValue, FilterError> {
        match self.peek() {
            None | Some(')' | ']') => {
                Err(self.err(self.pos, format!("expected a value after '{op_word}'")))
            }
            Some('"') => {
                let s = self.parse_string()?;
                match self.peek() {
                    None | Some(')' | ']') => Ok(CompValue::Str(s)),
                    Some(c) if is_ws(c) => Ok(CompValue::Str(s)),
                    Some(_) => Err(self.unexpected("a space after the closing quote")),
                }
            }
            Some(_) => {
                let word = self.take_while(|c| !is_ws(c) && c != ')' && c != ']');
                Ok(classify_bare(word))
            }
        }
    }

    /// A JSON string literal starting at the current `"`, escapes decoded.
    fn parse_string(&mut self) -> Result<String, FilterError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Plain text up to the next quote or escape is copied whole (an id is all of it).
            let rest = self.rest();
            let plain = rest.find(['"', '\\']).unwrap_or(rest.len());
            out.push_str(&rest[..plain]);
            self.pos += plain;
            let at = self.pos;
            match self.rest().as_bytes().first() {
                None => {
                    return Err(self.err(open, "unterminated string (missing closing '\"')"));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                // The only other stop: a backslash.
                Some(_) => self.pos += 1,
            }
            let Some(e) = self.peek() else {
                return Err(self.err(open, "unterminated string (missing closing '\"')"));
            };
            self.pos += e.len_utf8();
            match e {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '/' => out.push('/'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => out.push(self.parse_unicode_escape(at)?),
                other => {
                    return Err(self.err(at, format!("invalid escape '\\{other}' in a string")));
                }
            }
        }
    }

    /// The rest of a `\uXXXX` escape (the `\u` already consumed), joining surrogate pairs.
    fn parse_unicode_escape(&mut self, at: usize) -> Result<char, FilterError> {
        let high = self.hex4(at)?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if !self.rest().starts_with("\\u") {
                return Err(self.err(at, "unpaired surrogate in a '\\u' escape"));
            }
            self.pos += 2;
            let low = self.hex4(at)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.err(at, "unpaired surrogate in a '\\u' escape"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.err(at, "unpaired surrogate in a '\\u' escape"))
    }

    fn hex4(&mut self, at: usize) -> Result<u32, FilterError> {
        let digits = self.rest().get(..4).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(digits) = digits else {
            return Err(self.err(at, "'\\u' must be followed by four hex digits"));
        };
        self.pos += 4;
        u32::from_str_radix(digits, 16)
            .map_err(|_| self.err(at, "'\\u' must be followed by four hex digits"))
    }
}

fn capitalized(kind: &str) -> String {
    let mut chars = kind.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// An unquoted value: a keyword, a number when the whole token is one, else a string.
fn classify_bare(word: &str) -> CompValue {
    if word.eq_ignore_ascii_case("true") {
        CompValue::Bool(true)
    } else if word.eq_ignore_ascii_case("false") {
        CompValue::Bool(false)
    } else if word.eq_ignore_ascii_case("null") {
        CompValue::Null
    } else if is_number(word) {
        CompValue::Number(word.to_owned())
    } else {
        CompValue::Str(word.to_owned())
    }
}

/// `-?digits[.digits][(e|E)[+|-]digits]`, the whole string.
fn is_number(s: &str) -> bool {
    fn digits(b: &[u8], i: &mut usize) -> bool {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    }
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    if !digits(b, &mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(b, &mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(b, &mut i) {
            return false;
        }
    }
    i == b.len()
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Evaluates `f` with `ctx` as the object its paths are relative to; `parent` is the value
/// path whose element `ctx` is, if any (only to qualify paths for the case-exact callback).
fn eval(
    f: &Filter,
    ctx: &Value,
    parent: Option<&AttrPath>,
    case_exact: &dyn Fn(&AttrPath) -> bool,
) -> bool {
    match f {
        Filter::And(a, b) => eval(a, ctx, parent, case_exact) && eval(b, ctx, parent, case_exact),
        Filter::Or(a, b) => eval(a, ctx, parent, case_exact) || eval(b, ctx, parent, case_exact),
        Filter::Not(a) => !eval(a, ctx, parent, case_exact),
        Filter::Present(path) => resolve(ctx, path).into_iter().any(is_present),
        Filter::Compare { path, op, value } => compare(ctx, path, *op, value, parent, case_exact),
        Filter::ValuePath { attr, filter } => {
            let qualified = qualify(attr, parent);
            resolve(ctx, attr).into_iter().any(|element| match element {
                Value::Object(_) => eval(filter, element, Some(&qualified), case_exact),
                // A simple multi-valued attribute: its elements are their own `value`.
                other => {
                    let wrapped =
                        Value::Object(Map::from_iter([("value".to_owned(), other.clone())]));
                    eval(filter, &wrapped, Some(&qualified), case_exact)
                }
            })
        }
    }
}

/// The path as the schema knows it: an element-relative `value` inside `emails[...]` becomes
/// `emails.value`.
fn qualify<'p>(path: &'p AttrPath, parent: Option<&AttrPath>) -> Cow<'p, AttrPath> {
    match parent {
        Some(parent) if path.urn.is_none() && path.sub.is_none() => Cow::Owned(AttrPath {
            urn: parent.urn.clone(),
            name: parent.name.clone(),
            sub: Some(path.name.clone()),
        }),
        _ => Cow::Borrowed(path),
    }
}

/// Every value a path reaches in `ctx`, arrays flattened: `emails.value` on two emails gives
/// two strings. An absent attribute gives nothing.
fn resolve<'v>(ctx: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let Value::Object(root) = ctx else {
        return Vec::new();
    };
    let base = match &path.urn {
        Some(urn) if !is_core_schema_urn(urn) => match get_ci(root, urn) {
            Some(Value::Object(ext)) => ext,
            _ => return Vec::new(),
        },
        _ => root,
    };
    let Some(top) = get_ci(base, &path.name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match &path.sub {
        None => push_flat(&mut out, top),
        Some(sub) => {
            let mut parents = Vec::new();
            push_flat(&mut parents, top);
            for parent in parents {
                if let Value::Object(m) = parent
                    && let Some(v) = get_ci(m, sub)
                {
                    push_flat(&mut out, v);
                }
            }
        }
    }
    out
}

fn push_flat<'v>(out: &mut Vec<&'v Value>, v: &'v Value) {
    match v {
        Value::Array(items) => out.extend(items),
        other => out.push(other),
    }
}

/// `pr`: present, not null, not an empty string, array or object.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(
    ctx: &Value,
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
    parent: Option<&AttrPath>,
    case_exact: &dyn Fn(&AttrPath) -> bool,
) -> bool {
    let values = resolve(ctx, path);
    if *value == CompValue::Null {
        // `eq null` means "has no value", the opposite of `pr`.
        let present = values.iter().any(|v| is_present(v));
        return match op {
            CompareOp::Eq => !present,
            CompareOp::Ne => present,
            _ => false,
        };
    }
    let exact = case_exact(&qualify(path, parent));
    let any = |op: CompareOp| {
        values.iter().any(|v| {
            // `emails eq "x"` compares each element's `value`.
            let candidate = match v {
                Value::Object(m) if path.sub.is_none() => match get_ci(m, "value") {
                    Some(inner) => inner,
                    None => return false,
                },
                other => other,
            };
            compare_scalar(candidate, op, value, exact)
        })
    };
    match op {
        // An absent attribute is "not equal" to anything.
        CompareOp::Ne => !any(CompareOp::Eq),
        op => any(op),
    }
}

/// One attribute value against the literal. `op` is never `Ne` (handled as "not any Eq").
fn compare_scalar(candidate: &Value, op: CompareOp, value: &CompValue, exact: bool) -> bool {
    match (candidate, value) {
        (Value::String(s), CompValue::Str(v) | CompValue::Number(v)) => {
            compare_text(s, v, op, exact)
        }
        (Value::String(s), CompValue::Bool(b)) => {
            op == CompareOp::Eq && s.eq_ignore_ascii_case(bool_text(*b))
        }
        (Value::Number(n), CompValue::Number(t)) => {
            compare_numbers(n, t).is_some_and(|ord| ordering_holds(op, ord))
        }
        (Value::Number(n), CompValue::Str(v)) => match op {
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                compare_text(&n.to_string(), v, op, exact)
            }
            CompareOp::Eq if n.to_string() == *v => true,
            _ => is_number(v) && compare_numbers(n, v).is_some_and(|ord| ordering_holds(op, ord)),
        },
        (Value::Bool(b), CompValue::Bool(v)) => op == CompareOp::Eq && b == v,
        (Value::Bool(b), CompValue::Str(v)) => {
            op == CompareOp::Eq && v.eq_ignore_ascii_case(bool_text(*b))
        }
        _ => false,
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn compare_text(attr: &str, literal: &str, op: CompareOp, exact: bool) -> bool {
    let (a, b): (Cow<str>, Cow<str>) = if exact {
        (Cow::Borrowed(attr), Cow::Borrowed(literal))
    } else {
        (Cow::Owned(attr.to_lowercase()), Cow::Owned(literal.to_lowercase()))
    };
    match op {
        CompareOp::Co => a.contains(&*b),
        CompareOp::Sw => a.starts_with(&*b),
        CompareOp::Ew => a.ends_with(&*b),
        _ => ordering_holds(op, a.cmp(&b)),
    }
}

/// Exact for integers, by `f64` otherwise.
fn compare_numbers(n: &Number, text: &str) -> Option<Ordering> {
    if let (Some(a), Ok(b)) = (n.as_i64(), text.parse::<i64>()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Ok(b)) = (n.as_u64(), text.parse::<u64>()) {
        return Some(a.cmp(&b));
    }
    let b: f64 = text.parse().ok()?;
    n.as_f64()?.partial_cmp(&b)
}

/// Whether `attr <op> literal` holds given how they order. Substring operators never hold here.
fn ordering_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap()
    }

    fn cmp(path: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare { path: p(path), op, value }
    }

    fn s(v: &str) -> CompValue {
        CompValue::Str(v.to_owned())
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn parse_err(input: &str) -> String {
        match parse_filter(input) {
            Ok(f) => panic!("{input:?} parsed as {f:?}"),
            Err(e) => e.message,
        }
    }

    // --- attribute paths ---

    #[test]
    fn attribute_paths_split_urn_name_and_sub() {
        assert_eq!(
            p("name.givenName"),
            AttrPath { urn: None, name: "name".into(), sub: Some("givenName".into()) }
        );
        assert_eq!(
            p("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
            AttrPath {
                urn: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                name: "userName".into(),
                sub: None
            }
        );
        assert_eq!(
            p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
            AttrPath {
                urn: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
                name: "manager".into(),
                sub: Some("value".into())
            }
        );
        assert_eq!(p("$ref").name, "$ref");
        assert_eq!(p("members.$ref").sub.as_deref(), Some("$ref"));
        assert_eq!(p("x-y_z9").name, "x-y_z9");
    }

    #[test]
    fn bad_attribute_paths_are_explained() {
        for (bad, why) in [
            ("", "empty"),
            ("1abc", "not an attribute name"),
            ("a.b.c", "at most one sub-attribute"),
            ("a:b", "only allowed in a schema URN"),
            ("urn:userName", "not a schema URN"),
            ("urn:ietf:params:scim:schemas:core:2.0:User:", "expected an attribute name"),
            ("a b", "cannot appear"),
            ("name.", "not a sub-attribute name"),
        ] {
            let err = AttrPath::parse(bad).unwrap_err().message;
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.starts_with("Invalid attribute path"), "{err}");
        }
    }

    #[test]
    fn attribute_paths_display_as_written() {
        for text in [
            "userName",
            "name.givenName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
    }

    // --- parsing: the RFC 7644 §3.4.2.2 examples ---

    #[test]
    fn rfc_examples_parse() {
        let examples = [
            r#"userName Eq "john""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            "title pr",
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ];
        for text in examples {
            assert!(parse_filter(text).is_ok(), "{text}: {:?}", parse_filter(text));
        }
        assert_eq!(
            parse_filter(r#"userName Eq "john""#).unwrap(),
            cmp("userName", CompareOp::Eq, s("john"))
        );
        assert_eq!(parse_filter("title pr").unwrap(), Filter::Present(p("title")));
    }

    #[test]
    fn every_operator_parses_in_any_case() {
        for op in CompareOp::ALL {
            for spelling in [op.as_str().to_owned(), op.as_str().to_uppercase()] {
                let f = parse_filter(&format!("a {spelling} \"x\"")).unwrap();
                assert_eq!(f, cmp("a", op, s("x")));
            }
        }
        assert_eq!(parse_filter("a PR").unwrap(), Filter::Present(p("a")));
        assert_eq!(
            parse_filter("a pr AND b pr Or c pr").unwrap(),
            or(and(Filter::Present(p("a")), Filter::Present(p("b"))), Filter::Present(p("c")))
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let one = || CompValue::Number("1".into());
        let f = parse_filter("a eq 1 or b eq 2 and c eq 3").unwrap();
        assert_eq!(
            f,
            or(
                cmp("a", CompareOp::Eq, one()),
                and(
                    cmp("b", CompareOp::Eq, CompValue::Number("2".into())),
                    cmp("c", CompareOp::Eq, CompValue::Number("3".into()))
                )
            )
        );
        let f = parse_filter("a eq 1 and b eq 2 or c eq 3").unwrap();
        assert!(matches!(f, Filter::Or(ref l, _) if matches!(**l, Filter::And(..))));
        let f = parse_filter("(a eq 1 or b eq 2) and c eq 3").unwrap();
        assert!(matches!(f, Filter::And(ref l, _) if matches!(**l, Filter::Or(..))));
    }

    #[test]
    fn and_or_chains_are_left_associative() {
        let f = parse_filter("a pr and b pr and c pr").unwrap();
        assert_eq!(
            f,
            and(and(Filter::Present(p("a")), Filter::Present(p("b"))), Filter::Present(p("c")))
        );
    }

    #[test]
    fn not_binds_tighter_than_and_and_needs_parentheses() {
        let f = parse_filter("not (a pr) and b pr").unwrap();
        assert_eq!(f, and(Filter::Not(Box::new(Filter::Present(p("a")))), Filter::Present(p("b"))));
        assert_eq!(
            parse_filter("NOT(a pr)").unwrap(),
            Filter::Not(Box::new(Filter::Present(p("a"))))
        );
        let err = parse_err("not a pr");
        assert!(err.contains("'not' must be followed by a filter in parentheses"), "{err}");
        assert!(err.ends_with("at position 0"), "{err}");
        // An attribute that happens to be called "not" is still an attribute.
        assert_eq!(parse_filter("not pr").unwrap(), Filter::Present(p("not")));
        assert_eq!(
            parse_filter("not eq 1").unwrap(),
            cmp("not", CompareOp::Eq, CompValue::Number("1".into()))
        );
    }

    #[test]
    fn nested_parentheses_collapse() {
        assert_eq!(parse_filter("((( ( a pr ) )))").unwrap(), Filter::Present(p("a")));
        assert_eq!(
            parse_filter("not (not (a pr))").unwrap(),
            Filter::Not(Box::new(Filter::Not(Box::new(Filter::Present(p("a"))))))
        );
        assert_eq!(
            parse_filter("(a pr)and(b pr)").unwrap(),
            and(Filter::Present(p("a")), Filter::Present(p("b")))
        );
    }

    #[test]
    fn values_of_every_kind() {
        let v = |text: &str| match parse_filter(&format!("a eq {text}")).unwrap() {
            Filter::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(v(r#""plain""#), s("plain"));
        assert_eq!(v(r#""""#), s(""));
        assert_eq!(v(r#""q\"b\\s\/n\nt\tr\rb\bf\f""#), s("q\"b\\s/n\nt\tr\rb\u{8}f\u{c}"));
        assert_eq!(v(r#""\u00e9\u00E9""#), s("éé"));
        assert_eq!(v(r#""\ud83d\ude00""#), s("😀"));
        assert_eq!(v(r#""naïve 😀 ok""#), s("naïve 😀 ok"));
        assert_eq!(v(r#""has ) and ] inside""#), s("has ) and ] inside"));
        assert_eq!(v("true"), CompValue::Bool(true));
        assert_eq!(v("FALSE"), CompValue::Bool(false));
        assert_eq!(v("Null"), CompValue::Null);
        assert_eq!(v("42"), CompValue::Number("42".into()));
        assert_eq!(v("-0.5"), CompValue::Number("-0.5".into()));
        assert_eq!(v("1.5E+10"), CompValue::Number("1.5E+10".into()));
        assert_eq!(v("7535194597985784"), CompValue::Number("7535194597985784".into()));
        // `"true"` in quotes is a string.
        assert_eq!(v(r#""true""#), s("true"));
    }

    #[test]
    fn unquoted_values_as_real_clients_send_them() {
        let v = |text: &str| match parse_filter(text).unwrap() {
            Filter::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(v("userName eq a@b.com"), s("a@b.com"));
        assert_eq!(
            v("applicationId eq 123e4567-e89b-12d3-a456-426614174000"),
            s("123e4567-e89b-12d3-a456-426614174000")
        );
        assert_eq!(v("displayName sw my-"), s("my-"));
        assert_eq!(v("a eq 1.2.3"), s("1.2.3"));
        assert_eq!(v("a eq 12abc"), s("12abc"));
        assert_eq!(v("a eq truex"), s("truex"));
        assert_eq!(v("a eq fo(o"), s("fo(o"));
        assert_eq!(
            parse_filter("(userName eq a@b.com)").unwrap(),
            cmp("userName", CompareOp::Eq, s("a@b.com"))
        );
        assert_eq!(
            parse_filter("emails[value eq a@b.com]").unwrap(),
            Filter::ValuePath {
                attr: p("emails"),
                filter: Box::new(cmp("value", CompareOp::Eq, s("a@b.com")))
            }
        );
        // A `+` is not a space here: form decoding is the caller's job.
        assert_eq!(v("displayName eq a+b"), s("a+b"));
    }

    #[test]
    fn whitespace_is_tolerated() {
        assert_eq!(
            parse_filter("  \tuserName   eq\t\"x\"  and  title  pr ").unwrap(),
            and(cmp("userName", CompareOp::Eq, s("x")), Filter::Present(p("title")))
        );
    }

    #[test]
    fn value_paths() {
        let f = parse_filter(r#"emails[type eq "work" and value co "@x"]"#).unwrap();
        assert_eq!(
            f,
            Filter::ValuePath {
                attr: p("emails"),
                filter: Box::new(and(
                    cmp("type", CompareOp::Eq, s("work")),
                    cmp("value", CompareOp::Co, s("@x"))
                ))
            }
        );
        let f = parse_filter(
            "urn:ietf:params:scim:schemas:core:2.0:User:emails[not (primary eq true)]",
        )
        .unwrap();
        assert!(matches!(f, Filter::ValuePath { ref attr, .. } if attr.urn.is_some()));
        let err = parse_err(r#"emails[type eq "work"].value eq "x""#);
        assert!(err.contains("only allowed in PATCH paths"), "{err}");
        let err = parse_err(r#"a[b[c pr]]"#);
        assert!(err.contains("cannot be nested"), "{err}");
        assert!(err.ends_with("at position 3"), "{err}");
        let err = parse_err(r#"emails[type eq "work""#);
        assert!(err.contains("missing ']'"), "{err}");
        assert!(err.ends_with("at position 6"), "{err}");
        let err = parse_err(r#"emails[type eq "work")"#);
        assert!(err.contains("expected 'and', 'or' or ']', found ')'"), "{err}");
    }

    // --- error messages ---

    #[test]
    fn error_messages_say_what_and_where() {
        assert_eq!(
            parse_err("userName eq"),
            "Invalid filter 'userName eq': expected a value after 'eq' at position 11"
        );
        assert_eq!(parse_err(""), "Invalid filter '': the filter is empty");
        assert_eq!(parse_err("   "), "Invalid filter '   ': the filter is empty");
        assert_eq!(
            parse_err("userName"),
            "Invalid filter 'userName': expected an operator after 'userName' at position 8"
        );
        assert_eq!(
            parse_err("userName equals x"),
            "Invalid filter 'userName equals x': unknown operator 'equals'; expected one of eq, \
             ne, co, sw, ew, gt, ge, lt, le or pr at position 9"
        );
        assert_eq!(
            parse_err(r#"userName eq "abc"#),
            "Invalid filter 'userName eq \"abc': unterminated string (missing closing '\"') at \
             position 12"
        );
        assert_eq!(
            parse_err("a pr b pr"),
            "Invalid filter 'a pr b pr': expected 'and' or 'or', found 'b' at position 5"
        );
        assert_eq!(
            parse_err("(a pr"),
            "Invalid filter '(a pr': missing ')' to close this '(' at position 0"
        );
        assert_eq!(
            parse_err("a pr)"),
            "Invalid filter 'a pr)': expected 'and' or 'or', found ')' at position 4"
        );
        assert_eq!(
            parse_err("a pr and"),
            "Invalid filter 'a pr and': expected an attribute name or '(', found the end of the \
             filter at position 8"
        );
        assert_eq!(
            parse_err("é eq 1"),
            "Invalid filter 'é eq 1': expected an attribute name, found 'é' at position 0"
        );
        assert_eq!(
            parse_err("ab eq 1 and ü pr"),
            "Invalid filter 'ab eq 1 and ü pr': expected an attribute name, found 'ü' at \
             position 12"
        );
        for (bad, why) in [
            ("userName=x", "expected an operator after 'userName', found '=x'"),
            (r#"a eq "x"y"#, "expected a space after the closing quote, found 'y'"),
            (r#"a eq "\q""#, "invalid escape '\\q'"),
            (r#"a eq "\u12""#, "four hex digits"),
            (r#"a eq "\ud800""#, "unpaired surrogate"),
            (r#"a eq "\ud800\u0041""#, "unpaired surrogate"),
            ("a eq )", "expected a value after 'eq'"),
            ("a eq", "expected a value after 'eq'"),
            ("()", "expected an attribute name, found ')'"),
            ("a.b.c pr", "at most one sub-attribute"),
            ("1a pr", "not an attribute name"),
            ("a pr or", "found the end of the filter"),
            ("a pr andb pr", "expected 'and' or 'or', found 'andb'"),
            ("\"x\" eq a", "expected an attribute name, found '\"'"),
        ] {
            let err = parse_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    // --- limits ---

    #[test]
    fn too_long_filters_are_refused() {
        let long = format!("userName eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
        let err = parse_err(&long);
        assert!(err.starts_with("Filter is longer than 4096 bytes"), "{err}");
        let just_fits = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 7));
        assert_eq!(just_fits.len(), MAX_FILTER_LEN);
        assert!(parse_filter(&just_fits).is_ok());
    }

    #[test]
    fn too_many_expressions_are_refused() {
        // n comparisons joined by `and` make 2n - 1 nodes.
        let filter = |n: usize| vec!["a pr"; n].join(" and ");
        assert!(parse_filter(&filter(100)).is_ok());
        assert_eq!(parse_err(&filter(101)), "Filter has more than 200 expressions");
        assert_eq!(parse_err(&filter(400)), "Filter has more than 200 expressions");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_filter(&nested(MAX_FILTER_DEPTH)).is_ok());
        assert_eq!(
            parse_err(&nested(MAX_FILTER_DEPTH + 1)),
            "Filter nests more than 32 levels deep"
        );
        assert_eq!(
            parse_err(&"(".repeat(10_000)),
            "Filter is longer than 4096 bytes (10000 bytes)"
        );
        assert_eq!(parse_err(&"(".repeat(4000)), "Filter nests more than 32 levels deep");
        assert_eq!(parse_err(&"not (".repeat(800)), "Filter nests more than 32 levels deep");
        let brackets = |n: usize| format!("{}a[b pr]{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_filter(&brackets(MAX_FILTER_DEPTH - 1)).is_ok());
        assert_eq!(parse_err(&brackets(MAX_FILTER_DEPTH)), "Filter nests more than 32 levels deep");
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for input in [
            "\"",
            "\\",
            "[",
            "]",
            "(",
            ")",
            "a[",
            "a[]",
            "a[b",
            "a eq \"\\",
            "a eq \"\\u",
            "a eq \"\\ud83d\\u",
            "not",
            "not ",
            "not (",
            "urn:",
            "urn::",
            ":",
            ".",
            "a.",
            "a eq é",
            "é",
            "a\u{0}eq 1",
            "a eq \"\u{0}\"",
            "a eq 1 or",
            "a pr not (b pr)",
        ] {
            let _ = parse_filter(input);
        }
        assert!(parse_filter("a eq é").is_ok());
    }

    // --- matching ---

    fn user() -> Value {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "id": "7535194597985784",
            "userName": "Bjensen@Example.com",
            "displayName": "Babs Jensen",
            "title": "",
            "nickName": null,
            "active": true,
            "loginCount": 42,
            "score": 2.5,
            "name": {"givenName": "Barbara", "familyName": "O'Malley"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "entitlements": [{"value": "allow-cluster-create"}],
            "tags": ["red", "Green"],
            "groups": [],
            "meta": {"lastModified": "2011-05-13T04:42:34Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
            }
        })
    }

    fn m(filter: &str) -> bool {
        matches(&parse_filter(filter).unwrap(), &user())
    }

    #[test]
    fn equality_is_case_insensitive_by_default() {
        assert!(m(r#"userName eq "bjensen@example.com""#));
        assert!(m("userName eq BJENSEN@EXAMPLE.COM"));
        assert!(m(r#"USERNAME eq "bjensen@example.com""#));
        assert!(!m(r#"userName eq "bjensen""#));
        let exact = |path: &AttrPath| path.name.eq_ignore_ascii_case("userName");
        let f = parse_filter(r#"userName eq "bjensen@example.com""#).unwrap();
        assert!(!matches_with(&f, &user(), &exact));
        let f = parse_filter(r#"userName eq "Bjensen@Example.com""#).unwrap();
        assert!(matches_with(&f, &user(), &exact));
    }

    #[test]
    fn case_exact_callback_sees_qualified_paths_in_value_paths() {
        let seen = std::cell::RefCell::new(Vec::new());
        let record = |path: &AttrPath| {
            seen.borrow_mut().push(path.to_string());
            true
        };
        let f = parse_filter(r#"emails[value eq "BJENSEN@example.com"]"#).unwrap();
        assert!(!matches_with(&f, &user(), &record));
        assert!(seen.borrow().iter().all(|p| p == "emails.value"));
    }

    #[test]
    fn substring_and_ordering_operators_on_strings() {
        assert!(m(r#"name.familyName co "'mal""#));
        assert!(m(r#"userName sw "BJ""#));
        assert!(m(r#"userName ew ".COM""#));
        assert!(!m(r#"userName ew "example""#));
        assert!(m(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#));
        assert!(m(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#));
        assert!(!m(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified lt "2012-01-01T00:00:00Z""#));
        assert!(m(r#"meta.lastModified le "2011-05-13T04:42:34Z""#));
        assert!(!m(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#));
        assert!(m(r#"displayName gt "b""#), "case-insensitive ordering");
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(m("loginCount eq 42"));
        assert!(m("loginCount eq 42.0"));
        assert!(m("loginCount gt 9"));
        assert!(m("loginCount ge 42"));
        assert!(m("loginCount lt 100"));
        assert!(!m("loginCount le 41"));
        assert!(m("score gt 2.25"));
        assert!(m("score lt 1e1"));
        assert!(m(r#"loginCount eq "42""#), "a number attribute against text");
        assert!(m(r#"loginCount gt "9""#));
        assert!(m(r#"loginCount co "4""#));
        assert!(!m("loginCount co 4"), "substring needs a string on one side");
        assert!(!m("loginCount eq true"));
    }

    #[test]
    fn ids_compare_as_text() {
        assert!(m("id eq 7535194597985784"));
        assert!(m(r#"id eq "7535194597985784""#));
        assert!(!m("id eq 7535194597985785"));
    }

    #[test]
    fn booleans_compare_by_value_or_text() {
        assert!(m("active eq true"));
        assert!(m("active eq TRUE"));
        assert!(!m("active eq false"));
        assert!(m(r#"active eq "true""#));
        assert!(m(r#"active ne "false""#));
        assert!(!m("active gt false"));
        assert!(!m("active co true"));
        assert!(matches(&parse_filter("flag eq true").unwrap(), &json!({"flag": "True"})));
    }

    #[test]
    fn present_and_null() {
        assert!(m("userName pr"));
        assert!(!m("title pr"), "empty string is not present");
        assert!(!m("nickName pr"), "null is not present");
        assert!(!m("missing pr"));
        assert!(!m("groups pr"), "empty array is not present");
        assert!(m("emails pr"));
        assert!(m("name pr"));
        assert!(!matches(&parse_filter("x pr").unwrap(), &json!({"x": {}})));
        assert!(m("active pr"));
        assert!(m("nickName eq null"));
        assert!(m("missing eq null"));
        assert!(m("title eq null"));
        assert!(!m("userName eq null"));
        assert!(m("userName ne null"));
        assert!(!m("missing ne null"));
        assert!(!m("userName gt null"));
    }

    #[test]
    fn ne_is_true_for_absent_attributes() {
        assert!(m(r#"missing ne "x""#));
        assert!(m(r#"userName ne "x""#));
        assert!(!m(r#"userName ne "bjensen@example.com""#));
        assert!(!m(r#"emails ne "babs@jensen.org""#), "some element equals");
    }

    #[test]
    fn multi_valued_attributes_match_any_element() {
        assert!(m(r#"emails eq "babs@jensen.org""#), "elements' value");
        assert!(m(r#"emails co "example.com""#));
        assert!(m(r#"emails.value co "example.org" or emails.value ew "jensen.org""#));
        assert!(m(r#"emails.type eq "home""#));
        assert!(!m(r#"emails.type eq "other""#));
        assert!(m(r#"tags eq "green""#), "simple multi-valued");
        assert!(m(r#"entitlements eq "allow-cluster-create""#));
        assert!(m(r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#));
        // Unlike a value path, dotted comparisons may match different elements.
        assert!(m(r#"emails.type eq "work" and emails.value co "jensen.org""#));
        assert!(!m(r#"emails[type eq "work" and value co "jensen.org"]"#));
    }

    #[test]
    fn value_paths_match_within_one_element() {
        assert!(m(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(m(r#"emails[type eq "home" and not (primary eq true)]"#));
        assert!(!m(r#"emails[type eq "home" and primary eq true]"#));
        assert!(m(r#"emails[primary pr]"#));
        assert!(m(r#"tags[value sw "gr"]"#), "simple elements act as their value");
        assert!(!m(r#"missing[value pr]"#));
        assert!(m(r#"name[givenName eq "barbara"]"#), "a singular complex attribute");
    }

    #[test]
    fn urn_paths_find_core_and_extension_attributes() {
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "barbara""#));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
        assert!(m(
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:employeeNumber eq 701984"
        ));
        assert!(m("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \
             26118915-6090-4610-87e4-49d8ca9f808d"));
        assert!(m("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \
             26118915-6090-4610-87E4-49d8ca9f808d"));
        assert!(!m(r#"urn:ietf:params:scim:schemas:extension:other:2.0:User:employeeNumber pr"#));
        assert!(!m(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName pr"#));
    }

    #[test]
    fn logical_operators_evaluate() {
        assert!(m(r#"userName sw "bj" and active eq true"#));
        assert!(!m(r#"userName sw "bj" and active eq false"#));
        assert!(m(r#"userName sw "zz" or active eq true"#));
        assert!(m(r#"not (userName sw "zz")"#));
        assert!(m(r#"userType ne "Employee" and not (emails co "example.com" and title pr)"#));
        assert!(m("a eq 1 or b eq 2 or loginCount eq 42 and active eq true"));
        assert!(!m("(a eq 1 or loginCount eq 42) and active eq false"));
    }

    #[test]
    fn non_object_resources_match_nothing_positive() {
        for resource in [json!(null), json!([1, 2]), json!("x"), json!(3)] {
            assert!(!matches(&parse_filter("a pr").unwrap(), &resource));
            assert!(!matches(&parse_filter("a eq 1").unwrap(), &resource));
            assert!(matches(&parse_filter("a ne 1").unwrap(), &resource));
        }
    }

    // --- properties ---

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Writes a filter back as text that must parse to the same tree (test-only).
        fn print(f: &Filter) -> String {
            fn prec(f: &Filter) -> u8 {
                match f {
                    Filter::Or(..) => 1,
                    Filter::And(..) => 2,
                    _ => 3,
                }
            }
            fn side(f: &Filter, parens: bool) -> String {
                if parens { format!("({})", print(f)) } else { print(f) }
            }
            match f {
                Filter::Or(a, b) => {
                    format!("{} or {}", side(a, prec(a) < 1), side(b, prec(b) <= 1))
                }
                Filter::And(a, b) => {
                    format!("{} AND {}", side(a, prec(a) < 2), side(b, prec(b) <= 2))
                }
                Filter::Not(a) => format!("not ({})", print(a)),
                Filter::Present(path) => format!("{path} pr"),
                Filter::Compare { path, op, value } => {
                    let value = match value {
                        CompValue::Str(s) => serde_json::to_string(s).unwrap(),
                        CompValue::Number(n) => n.clone(),
                        CompValue::Bool(b) => b.to_string(),
                        CompValue::Null => "null".to_owned(),
                    };
                    format!("{path} {} {value}", op.as_str())
                }
                Filter::ValuePath { attr, filter } => format!("{attr}[{}]", print(filter)),
            }
        }

        fn name() -> impl Strategy<Value = String> {
            "[a-zA-Z$][a-zA-Z0-9_$-]{0,6}".prop_filter("keywords", |n| {
                !["not", "and", "or"].iter().any(|k| n.eq_ignore_ascii_case(k))
            })
        }

        fn attr_path() -> impl Strategy<Value = AttrPath> {
            let urn = prop_oneof![
                Just(None),
                Just(Some("urn:ietf:params:scim:schemas:core:2.0:User".to_owned())),
                Just(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned())),
            ];
            (urn, name(), proptest::option::of(name())).prop_map(|(urn, name, sub)| AttrPath {
                urn,
                name,
                sub,
            })
        }

        fn comp_value() -> impl Strategy<Value = CompValue> {
            prop_oneof![
                any::<String>().prop_map(CompValue::Str),
                "-?[0-9]{1,5}(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?".prop_map(CompValue::Number),
                any::<bool>().prop_map(CompValue::Bool),
                Just(CompValue::Null),
            ]
        }

        fn leaf() -> impl Strategy<Value = Filter> {
            prop_oneof![
                attr_path().prop_map(Filter::Present),
                (attr_path(), proptest::sample::select(CompareOp::ALL.to_vec()), comp_value())
                    .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
            ]
        }

        fn logic(inner: BoxedStrategy<Filter>, size: u32) -> impl Strategy<Value = Filter> {
            inner.prop_recursive(4, size, 2, |inner| {
                prop_oneof![
                    (inner.clone(), inner.clone())
                        .prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                    (inner.clone(), inner.clone())
                        .prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                    inner.prop_map(|a| Filter::Not(Box::new(a))),
                ]
            })
        }

        fn filter() -> impl Strategy<Value = Filter> {
            let value_path = (attr_path(), logic(leaf().boxed(), 6)).prop_map(|(mut attr, f)| {
                attr.sub = None;
                Filter::ValuePath { attr, filter: Box::new(f) }
            });
            logic(prop_oneof![3 => leaf(), 1 => value_path].boxed(), 16)
        }

        proptest! {
            #[test]
            fn parse_never_panics(input in any::<String>()) {
                let _ = parse_filter(&input);
            }

            #[test]
            fn parse_never_panics_on_filter_like_text(
                input in "[a-z()\\[\\]\" .:\\\\-]{0,60}( (eq|pr|and|or|not) )?[a-z()\\[\\]\" 0-9]{0,20}"
            ) {
                if let Ok(f) = parse_filter(&input) {
                    let _ = matches(&f, &serde_json::json!({"a": [{"b": 1}]}));
                }
            }

            #[test]
            fn printed_filters_parse_back(f in filter()) {
                let text = print(&f);
                prop_assert_eq!(parse_filter(&text), Ok(f), "{}", text);
            }

            #[test]
            fn unquoted_plain_values_parse_as_strings(v in "[a-zA-Z@._+-][a-zA-Z0-9@._+-]{0,20}") {
                prop_assume!(classify_bare(&v) == CompValue::Str(v.clone()));
                prop_assert_eq!(
                    parse_filter(&format!("userName eq {v}")),
                    Ok(Filter::Compare {
                        path: AttrPath::simple("userName"),
                        op: CompareOp::Eq,
                        value: CompValue::Str(v),
                    })
                );
            }
        }
    }
}
