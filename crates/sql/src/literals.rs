//! Spark's typed number literals, which the engine's parser does not read: `1.5D` (DOUBLE),
//! `2.5F` (FLOAT), `1.25BD` (DECIMAL), `10L` (BIGINT), `2S` (SMALLINT) and `3Y` (TINYINT),
//! the suffix in either case. Each is written as the cast it stands for before the statement
//! goes on, so `1.5D + 1` is `CAST(1.5 AS DOUBLE) + 1`.

use crate::lexer::{Spanned, Token};

/// `text` with its typed number literals written as casts, or `None` when it has none. Only
/// numbers are touched: strings, quoted names and comments stay as written, and a number
/// whose suffix does not fit it (`1.5L`) is left for the engine to refuse.
pub fn write_as_casts(text: &str, tokens: &[Spanned]) -> Option<String> {
    let mut out = String::new();
    let mut at = 0;
    let mut i = 0;
    while i < tokens.len() {
        let Some((start, end, next)) = number_at(tokens, i) else {
            i += 1;
            continue;
        };
        i = next;
        if let Some(cast) = cast_of(&text[start..end]) {
            out.push_str(&text[at..start]);
            out.push_str(&cast);
            at = end;
        }
    }
    if at == 0 {
        return None;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The number that starts at token `i`, as its byte span and the index of the token after it:
/// `1`, `1.5` or `.5` with whatever letters follow the digits, its tokens written together.
fn number_at(tokens: &[Spanned], i: usize) -> Option<(usize, usize, usize)> {
    let digits_word = |t: &Spanned| matches!(&t.token, Token::Word(w) if w.starts_with(|c: char| c.is_ascii_digit()));
    let point = |t: &Spanned| t.token == Token::Symbol('.');
    let joined = |a: &Spanned, b: &Spanned| a.end == b.start;
    let first = &tokens[i];
    // A point written right after a name qualifies it (`t.5`, `t.x`): what follows is a name.
    let qualifies = |p: usize| {
        p > 0
            && point(&tokens[p])
            && joined(&tokens[p - 1], &tokens[p])
            && matches!(tokens[p - 1].token, Token::Word(_) | Token::Quoted(_))
    };
    if digits_word(first) {
        if i > 0 && qualifies(i - 1) && joined(&tokens[i - 1], first) {
            return None;
        }
        // `1.5`: the digits, the point and the digits after it.
        if let (Some(p), Some(fraction)) = (tokens.get(i + 1), tokens.get(i + 2))
            && point(p)
            && digits_word(fraction)
            && joined(first, p)
            && joined(p, fraction)
        {
            return Some((first.start, fraction.end, i + 3));
        }
        return Some((first.start, first.end, i + 1));
    }
    // `.5`.
    match tokens.get(i + 1) {
        Some(fraction)
            if point(first)
                && !qualifies(i)
                && digits_word(fraction)
                && joined(first, fraction) =>
        {
            Some((first.start, fraction.end, i + 2))
        }
        _ => None,
    }
}

/// The cast a typed number literal stands for; `None` for a plain number, or one whose
/// suffix does not fit it.
fn cast_of(literal: &str) -> Option<String> {
    let upper = literal.to_ascii_uppercase();
    let (number, suffix) = ["BD", "D", "F", "L", "S", "Y"]
        .into_iter()
        .find_map(|s| upper.strip_suffix(s).map(|n| (n, s)))?;
    let (mantissa, exponent) = match number.split_once('E') {
        Some((m, e)) => (m, Some(e)),
        None => (number, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0
        || !all_digits(whole)
        || !all_digits(fraction)
        || exponent.is_some_and(|e| e.is_empty() || !all_digits(e))
    {
        return None;
    }
    let integer = fraction.is_empty() && exponent.is_none() && !mantissa.contains('.');
    let number = &literal[..number.len()];
    Some(match suffix {
        "D" => format!("CAST({number} AS DOUBLE)"),
        "F" => format!("CAST({number} AS FLOAT)"),
        "L" if integer => format!("CAST({number} AS BIGINT)"),
        "S" if integer => format!("CAST({number} AS SMALLINT)"),
        "Y" if integer => format!("CAST({number} AS TINYINT)"),
        "BD" if exponent.is_none() => {
            // As Spark types it: every digit but the leading zeros, and those after the point.
            let significant = whole.trim_start_matches('0').len() + fraction.len();
            let precision = significant.max(fraction.len()).max(1);
            if precision > 38 {
                return None;
            }
            format!("CAST('{number}' AS DECIMAL({precision},{}))", fraction.len())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::tokens;

    fn written(text: &str) -> Option<String> {
        write_as_casts(text, &tokens(text).unwrap())
    }

    #[test]
    fn typed_numbers_become_casts() {
        for (text, cast) in [
            ("SELECT 1.5D", "SELECT CAST(1.5 AS DOUBLE)"),
            ("SELECT 2d + 1", "SELECT CAST(2 AS DOUBLE) + 1"),
            ("SELECT 2.5F", "SELECT CAST(2.5 AS FLOAT)"),
            ("SELECT 1E3D", "SELECT CAST(1E3 AS DOUBLE)"),
            ("SELECT .5D", "SELECT CAST(.5 AS DOUBLE)"),
            ("SELECT -1.5D", "SELECT -CAST(1.5 AS DOUBLE)"),
            (
                "SELECT 10L, 2S, 3y",
                "SELECT CAST(10 AS BIGINT), CAST(2 AS SMALLINT), CAST(3 AS TINYINT)",
            ),
            ("SELECT 1.25BD", "SELECT CAST('1.25' AS DECIMAL(3,2))"),
            ("SELECT 0.5bd", "SELECT CAST('0.5' AS DECIMAL(1,1))"),
            ("SELECT 100BD", "SELECT CAST('100' AS DECIMAL(3,0))"),
            (
                "SELECT x FROM t WHERE y > 1.5D -- 2D\n",
                "SELECT x FROM t WHERE y > CAST(1.5 AS DOUBLE) -- 2D\n",
            ),
        ] {
            assert_eq!(written(text).as_deref(), Some(cast), "{text}");
        }
    }

    #[test]
    fn everything_else_is_left_as_written() {
        for text in [
            "SELECT 1, 1.5, .5, 1e3, 1.5e3",
            "SELECT '1.5D', `10L`, x10L, t.x",
            "SELECT 1.5L, 1.5S, 1.5Y, 1E3BD, 1.5X",
            "SELECT t.`5D`",
            "SELECT a.b.c FROM t",
            "SELECT * FROM main.sales.2024D",
        ] {
            assert_eq!(written(text), None, "{text}");
        }
    }
}
