//! Databricks functions that are other SQL the engine plans: `if(c, a, b)` is a `CASE`,
//! `year(d)` is `date_part('year', d)`, `collect_list(x)` is `array_agg(x)` without the NULLs,
//! `string(x)` is a cast, and so on. Each is a template over the call's arguments, chosen by
//! name and argument count; a call no template fits is left as written, for the planner to
//! refuse by name. Functions that need code of their own are in [`crate::spark`].

use deltalake::datafusion::sql::parser::Statement as DfStatement;
use deltalake::datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, DataType, DuplicateTreatment, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, JsonPath, JsonPathElem, Statement as SqlStatement,
    Subscript, TimezoneInfo, TypedString, Value, visit_expressions_mut,
};
use deltalake::datafusion::sql::sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// (name, argument count, what a call is: `$0`, `$1`, … stand for its arguments).
const TEMPLATES: &[(&str, usize, &str)] = &[
    // Conditionals.
    ("if", 3, "CASE WHEN $0 THEN $1 ELSE $2 END"),
    ("iff", 3, "CASE WHEN $0 THEN $1 ELSE $2 END"),
    ("nvl2", 3, "CASE WHEN $0 IS NOT NULL THEN $1 ELSE $2 END"),
    ("isnull", 1, "$0 IS NULL"),
    ("isnotnull", 1, "$0 IS NOT NULL"),
    ("zeroifnull", 1, "coalesce($0, 0)"),
    ("nullifzero", 1, "nullif($0, 0)"),
    // Aggregates.
    ("count_if", 1, "count(CASE WHEN $0 THEN 1 END)"),
    ("listagg", 1, "string_agg($0, '')"),
    ("listagg", 2, "string_agg($0, $1)"),
    // Over no rows (or only NULLs) an empty list, as Spark gives, where array_agg gives NULL.
    ("collect_list", 1, "coalesce(array_agg($0) FILTER (WHERE $0 IS NOT NULL), make_array())"),
    (
        "collect_set",
        1,
        "coalesce(array_agg(DISTINCT $0) FILTER (WHERE $0 IS NOT NULL), make_array())",
    ),
    ("variance", 1, "var_samp($0)"),
    ("every", 1, "bool_and($0)"),
    ("first", 1, "first_value($0)"),
    ("last", 1, "last_value($0)"),
    ("approx_count_distinct", 1, "approx_distinct($0)"),
    ("some", 1, "bool_or($0)"),
    ("any", 1, "bool_or($0)"),
    ("percentile", 2, "percentile_cont($0, $1)"),
    ("percentile_approx", 2, "approx_percentile_cont($0, $1)"),
    ("max_by", 2, "first_value($0 ORDER BY $1 DESC NULLS LAST)"),
    ("min_by", 2, "first_value($0 ORDER BY $1 ASC NULLS LAST)"),
    // Casts by the type's name.
    ("string", 1, "CAST($0 AS STRING)"),
    ("int", 1, "CAST($0 AS INT)"),
    ("bigint", 1, "CAST($0 AS BIGINT)"),
    ("smallint", 1, "CAST($0 AS SMALLINT)"),
    ("tinyint", 1, "CAST($0 AS TINYINT)"),
    ("double", 1, "CAST($0 AS DOUBLE)"),
    ("float", 1, "CAST($0 AS FLOAT)"),
    ("boolean", 1, "CAST($0 AS BOOLEAN)"),
    ("date", 1, "CAST($0 AS DATE)"),
    ("timestamp", 1, "CAST($0 AS TIMESTAMP)"),
    // Strings.
    ("lcase", 1, "lower($0)"),
    ("ucase", 1, "upper($0)"),
    ("locate", 2, "strpos($1, $0)"),
    // Every match, as Spark replaces; the engine's replaces the first unless told `g`.
    ("regexp_replace", 3, "regexp_replace($0, $1, $2, 'g')"),
    // Base64 as Spark writes it, padded with `=`; the engine's own neither writes nor reads
    // the padding.
    (
        "base64",
        1,
        "rpad(encode($0, 'base64'), CAST(ceil(length(encode($0, 'base64')) / 4.0) * 4 AS INT), '=')",
    ),
    ("unbase64", 1, "decode(rtrim($0, '='), 'base64')"),
    // Numbers.
    ("try_divide", 2, "CASE WHEN $1 = 0 THEN NULL ELSE CAST($0 AS DOUBLE) / $1 END"),
    // Dates and times: parts are INTs, Sunday is day 1 of the week.
    ("year", 1, "date_part('year', $0)"),
    ("quarter", 1, "date_part('quarter', $0)"),
    ("month", 1, "date_part('month', $0)"),
    ("day", 1, "date_part('day', $0)"),
    ("dayofmonth", 1, "date_part('day', $0)"),
    ("dayofyear", 1, "date_part('doy', $0)"),
    ("dayofweek", 1, "date_part('dow', $0) + 1"),
    // Monday is 0.
    ("weekday", 1, "CAST((date_part('dow', $0) + 6) % 7 AS INT)"),
    (
        "make_timestamp",
        6,
        "CAST(make_date($0, $1, $2) AS TIMESTAMP) + CAST(concat(CAST($3 AS STRING), ' hours ', \
         CAST($4 AS STRING), ' minutes ', CAST($5 AS STRING), ' seconds') AS INTERVAL)",
    ),
    ("weekofyear", 1, "date_part('week', $0)"),
    ("hour", 1, "date_part('hour', $0)"),
    ("minute", 1, "date_part('minute', $0)"),
    ("second", 1, "date_part('second', $0)"),
    ("add_months", 2, "CAST($0 + CAST(concat(CAST($1 AS STRING), ' month') AS INTERVAL) AS DATE)"),
    (
        "last_day",
        1,
        "CAST(date_trunc('month', $0) + INTERVAL '1' MONTH - INTERVAL '1' DAY AS DATE)",
    ),
    ("unix_timestamp", 0, "CAST(to_unixtime(now()) AS BIGINT)"),
    ("unix_timestamp", 1, "CAST(to_unixtime($0) AS BIGINT)"),
    ("to_unix_timestamp", 1, "CAST(to_unixtime($0) AS BIGINT)"),
    ("from_unixtime", 1, "to_char(to_timestamp_seconds($0), '%Y-%m-%d %H:%M:%S')"),
    // Arrays.
    ("array_size", 1, "CAST(cardinality($0) AS INT)"),
    ("sort_array", 1, "array_sort($0)"),
    // From element `start` (1 on, from the end when negative), `length` of them.
    ("slice", 3, "array_slice($0, $1, $1 + $2 - 1)"),
    ("pmod", 2, "(($0 % $1) + $1) % $1"),
    ("sign", 1, "signum($0)"),
    ("explode", 1, "unnest($0)"),
    ("map_from_arrays", 2, "map($0, $1)"),
    ("sequence", 2, "generate_series($0, $1)"),
    ("sequence", 3, "generate_series($0, $1, $2)"),
];

/// `statement` with every call a template fits replaced by what it is.
pub(crate) fn rewrite(mut statement: DfStatement) -> DfStatement {
    if let DfStatement::Statement(s) = &mut statement {
        rewrite_sql(s.as_mut());
    }
    statement
}

/// The same, for a statement whose parts are handed to Delta's operations as text (an
/// `UPDATE`'s assignments, a `MERGE`'s conditions), which DataFusion plans without this
/// module. delta-rs also folds constants before the plan's division is made Spark's
/// ([`crate::spark_operators`]), so a whole number divided here is a `DOUBLE` from the start:
/// `SET r = 7 / 2` sets 3.5.
pub(crate) fn rewritten(statement: &SqlStatement) -> SqlStatement {
    let mut statement = statement.clone();
    rewrite_sql(&mut statement);
    let _ = visit_expressions_mut(&mut statement, |expr| {
        if let Expr::BinaryOp { left, op: BinaryOperator::Divide, .. } = expr
            && integer(left).is_some()
            && let Some(double) = filled("CAST($0 AS DOUBLE)", &[*left.clone()])
        {
            **left = double;
        }
        ControlFlow::<()>::Continue(())
    });
    statement
}

fn rewrite_sql(statement: &mut SqlStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some(replacement) = replacement(expr) {
            *expr = replacement;
        }
        instant_timestamps(expr);
        ControlFlow::<()>::Continue(())
    });
}

/// `TIMESTAMP` in a cast or a literal is Databricks' `TIMESTAMP`, an instant: to the planner,
/// `TIMESTAMP WITH TIME ZONE` in the session's zone (UTC), where its own `TIMESTAMP` has none.
/// `TIMESTAMP_NTZ` stays a wall-clock time.
fn instant_timestamps(expr: &mut Expr) {
    let data_type = match expr {
        Expr::Cast { data_type, .. } => data_type,
        Expr::TypedString(TypedString { data_type, .. }) => data_type,
        _ => return,
    };
    if let DataType::Timestamp(precision, TimezoneInfo::None) = data_type {
        *data_type = DataType::Timestamp(*precision, TimezoneInfo::WithTimeZone);
    }
}

/// What the call `expr` is, if a template fits it.
fn replacement(expr: &Expr) -> Option<Expr> {
    let function = match expr {
        Expr::Function(function) => {
            if let Some(counted) = distinct_count_of_several(function) {
                return Some(counted);
            }
            if let Some(hashed) = hash_of_int_literals(function) {
                return Some(hashed);
            }
            function
        }
        // `s RLIKE pattern`, `s REGEXP pattern`.
        Expr::RLike { negated, expr, pattern, .. } => {
            let template = if *negated { "NOT regexp_like($0, $1)" } else { "regexp_like($0, $1)" };
            return filled(template, &[*expr.clone(), *pattern.clone()]);
        }
        // `substring(s, pos[, len])`, `substr(…)`, `substring(s FROM pos FOR len)`, counted as
        // Spark counts ([`crate::spark_text`]).
        Expr::Substring { expr, substring_from, substring_for, .. } => {
            let from = substring_from.as_deref().cloned().unwrap_or(one());
            return match substring_for {
                Some(length) => {
                    filled("spark_substring($0, $1, $2)", &[*expr.clone(), from, *length.clone()])
                }
                None => filled("spark_substring($0, $1)", &[*expr.clone(), from]),
            };
        }
        // `f(x).field`, `arr[0].field`: a struct's field by name, as `['field']` reads it (the
        // planner reads a dot after anything but a column's name as an error).
        Expr::CompoundFieldAccess { root, access_chain }
            if access_chain.iter().any(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_)))) =>
        {
            let access_chain = access_chain
                .iter()
                .map(|a| match a {
                    AccessExpr::Dot(Expr::Identifier(field)) => {
                        AccessExpr::Subscript(Subscript::Index {
                            index: Expr::value(Value::SingleQuotedString(field.value.clone())),
                        })
                    }
                    other => other.clone(),
                })
                .collect();
            return Some(Expr::CompoundFieldAccess { root: root.clone(), access_chain });
        }
        // `raw:a.b[0]`, Databricks' path into JSON text: `get_json_object(raw, '$.a.b[0]')`,
        // with the names after dots matched in any case (`crate::spark`, `json_path_text`).
        Expr::JsonAccess { value, path } => {
            let path = Expr::value(Value::SingleQuotedString(json_path(path)?));
            return filled("json_path_text($0, $1)", &[*value.clone(), path]);
        }
        // `a DIV b` ([`crate::dialect`]), which DataFusion does not plan.
        Expr::BinaryOp { left, op: BinaryOperator::MyIntegerDivide, right } => {
            return filled("div($0, $1)", &[*left.clone(), *right.clone()]);
        }
        _ => return None,
    };
    let arguments = plain_arguments(function)?;
    let [name] = function.name.0.as_slice() else {
        return None;
    };
    let name = name.as_ident()?.value.to_lowercase();
    let template =
        match TEMPLATES.iter().find(|(n, count, _)| *n == name && *count == arguments.len()) {
            Some((_, _, template)) => (*template).to_owned(),
            None => computed_template(&name, &arguments)?,
        };
    filled(&template, &arguments)
}

/// The JSON path (`$.a.b[0]`, `$['a b']`) of Databricks' `:a.b[0]`; `None` where a step is not
/// a name or a literal (`:a[i]`) or is a name the path cannot hold.
fn json_path(path: &JsonPath) -> Option<String> {
    let mut out = String::from("$");
    for step in &path.path {
        match step {
            JsonPathElem::Dot { key, .. } => {
                if key.contains("']") {
                    return None;
                } else if key.contains(['.', '[', ']', '\'', ' ']) {
                    out.push_str(&format!("['{key}']"));
                } else {
                    out.push('.');
                    out.push_str(key);
                }
            }
            JsonPathElem::Bracket { key } | JsonPathElem::ColonBracket { key } => {
                if let Some(n) = integer(key).filter(|n| *n >= 0) {
                    out.push_str(&format!("[{n}]"));
                } else {
                    let key = string(key)?;
                    if key.contains("']") {
                        return None;
                    }
                    out.push_str(&format!("['{key}']"));
                }
            }
        }
    }
    Some(out)
}

/// `count(DISTINCT a, b, …)`: Spark counts the distinct rows of `(a, b, …)` in which none is
/// NULL, and the planner counts one argument only; so the arguments become one struct, NULL
/// where any of them is.
fn distinct_count_of_several(function: &Function) -> Option<Expr> {
    let [name] = function.name.0.as_slice() else {
        return None;
    };
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    if !name.as_ident()?.value.eq_ignore_ascii_case("count")
        || list.duplicate_treatment != Some(DuplicateTreatment::Distinct)
        || list.args.len() < 2
    {
        return None;
    }
    let arguments: Vec<Expr> = list
        .args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let places: Vec<String> = (0..arguments.len()).map(|n| format!("${n}")).collect();
    let present: Vec<String> = places.iter().map(|p| format!("{p} IS NOT NULL")).collect();
    let one = filled(
        &format!("CASE WHEN {} THEN struct({}) END", present.join(" AND "), places.join(", ")),
        &arguments,
    )?;
    let mut function = function.clone();
    if let FunctionArguments::List(list) = &mut function.args {
        list.args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(one))];
    }
    Some(Expr::Function(function))
}

/// `hash(1, array(123))`: Spark types a whole number literal that fits in 32 bits as an INT,
/// and `hash` hashes an INT in 4 bytes, where the engine's literal is a BIGINT of 8. So in
/// `hash`'s arguments (and in the arrays, maps and structs made there) such a literal is cast
/// to INT, and the hash is Spark's. `None` when there is none to cast.
fn hash_of_int_literals(function: &Function) -> Option<Expr> {
    let [name] = function.name.0.as_slice() else {
        return None;
    };
    if !name.as_ident()?.value.eq_ignore_ascii_case("hash") {
        return None;
    }
    fn narrowed(expr: &mut Expr) -> bool {
        match expr {
            Expr::Value(_) if integer(expr).is_some_and(|n| i32::try_from(n).is_ok()) => {
                let Some(cast) = filled("CAST($0 AS INT)", std::slice::from_ref(expr)) else {
                    return false;
                };
                *expr = cast;
                true
            }
            Expr::UnaryOp { expr: inner, .. } => narrowed(inner),
            Expr::Function(f)
                if f.name.0.len() == 1
                    && f.name.0[0].as_ident().is_some_and(|i| {
                        ["array", "map", "struct", "named_struct"]
                            .iter()
                            .any(|c| i.value.eq_ignore_ascii_case(c))
                    }) =>
            {
                narrowed_arguments(&mut f.args)
            }
            _ => false,
        }
    }
    /// Whether any of a call's arguments was narrowed.
    fn narrowed_arguments(args: &mut FunctionArguments) -> bool {
        let FunctionArguments::List(list) = args else {
            return false;
        };
        let mut any = false;
        for arg in &mut list.args {
            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                any |= narrowed(e);
            }
        }
        any
    }
    let mut function = function.clone();
    narrowed_arguments(&mut function.args).then_some(Expr::Function(function))
}

/// The template of a call whose form depends on a literal argument: a datetime pattern, a
/// unit, a digest's size, a group's number.
fn computed_template(name: &str, arguments: &[Expr]) -> Option<String> {
    match (name, arguments) {
        // Spark's datetime patterns (`yyyy-MM-dd`), which the engine writes as strftime's.
        ("date_format", [_, pattern]) => Some(format!("to_char($0, {})", strftime(pattern)?)),
        ("from_unixtime", [_, pattern]) => {
            Some(format!("to_char(to_timestamp_seconds($0), {})", strftime(pattern)?))
        }
        // The first date after `$0` that is the day of the week named (`Mon`, `monday`, `MO`).
        ("next_day", [_, day]) => {
            let day = string(day)?.to_lowercase();
            let sunday_first = ["su", "mo", "tu", "we", "th", "fr", "sa"]
                .iter()
                .position(|d| day.starts_with(d))?;
            Some(format!("date_add($0, (({sunday_first} - date_part('dow', $0) + 6) % 7) + 1)"))
        }
        ("to_date" | "to_timestamp", [_, pattern]) => {
            Some(format!("{name}($0, {})", strftime(pattern)?))
        }
        // trunc(date, 'MM'): the date at the start of its month; trunc(x, n) is a number's.
        ("trunc", [_, unit]) => {
            let unit = match string(unit)?.to_uppercase().as_str() {
                "YEAR" | "YYYY" | "YY" => "year",
                "QUARTER" => "quarter",
                "MONTH" | "MM" | "MON" => "month",
                "WEEK" => "week",
                _ => return None,
            };
            Some(format!("CAST(date_trunc('{unit}', $0) AS DATE)"))
        }
        // NULL when any part is (the engine's `concat` skips NULLs; its `||` does not), as
        // Spark's `concat` of strings or of arrays is.
        ("concat", [_, _, ..]) => {
            Some((0..arguments.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(" || "))
        }
        // Descending puts NULLs last, as Spark does.
        ("sort_array", [_, ascending]) => match ascending {
            Expr::Value(v) if v.value == Value::Boolean(true) => {
                Some("array_sort($0, 'ASC', 'NULLS FIRST')".into())
            }
            Expr::Value(v) if v.value == Value::Boolean(false) => {
                Some("array_sort($0, 'DESC', 'NULLS LAST')".into())
            }
            _ => None,
        },
        ("sha2", [_, bits]) => match integer(bits)? {
            0 | 256 => Some("encode(sha256($0), 'hex')".into()),
            bits @ (224 | 384 | 512) => Some(format!("encode(sha{bits}($0), 'hex')")),
            _ => None,
        },
        // Group `n` of the first match, the whole match for 0, '' when nothing matches.
        ("regexp_extract", [_, _]) => Some(extract_group(1)),
        ("regexp_extract", [_, _, group]) => Some(extract_group(integer(group)?)),
        // A separator that is no pattern but itself.
        ("split", [_, separator]) => {
            let separator = string(separator)?;
            let plain = !separator.chars().any(|c| "\\^$.|?*+()[]{}".contains(c));
            plain.then(|| "string_to_array($0, $1)".to_owned())
        }
        // decode(x, search, result, …[, default]): the result of the first search x equals.
        ("decode", [_, rest @ ..]) if rest.len() >= 2 => {
            let mut case = "CASE".to_owned();
            for pair in 0..rest.len() / 2 {
                let (search, result) = (1 + 2 * pair, 2 + 2 * pair);
                case += &format!(" WHEN $0 IS NOT DISTINCT FROM ${search} THEN ${result}");
            }
            if rest.len() % 2 == 1 {
                case += &format!(" ELSE ${}", rest.len());
            }
            Some(case + " END")
        }
        ("dateadd" | "date_add" | "timestampadd", [unit, _, _]) => {
            let unit = unit_name(unit)?;
            Some(format!("$2 + CAST(concat(CAST($1 AS STRING), ' {unit}') AS INTERVAL)"))
        }
        ("datediff" | "date_diff" | "timestampdiff", [unit, _, _]) => {
            let seconds = match unit_name(unit)? {
                "second" => 1,
                "minute" => 60,
                "hour" => 3_600,
                "day" => 86_400,
                "week" => 604_800,
                _ => return None,
            };
            Some(format!("CAST(trunc((to_unixtime($2) - to_unixtime($1)) / {seconds}) AS BIGINT)"))
        }
        _ => None,
    }
}

/// The pattern is wrapped in a group of its own, so the match's group 0 is the whole match,
/// as Spark numbers them (`get` counts from 0).
fn extract_group(group: i64) -> String {
    format!(
        "CASE WHEN $0 IS NULL THEN NULL \
         ELSE coalesce(get(regexp_match($0, concat('(', $1, ')')), {group}), '') END"
    )
}

/// The unit a date function's first argument names (`DAY`, `hour`), as the engine's interval
/// text spells it.
fn unit_name(unit: &Expr) -> Option<&'static str> {
    let Expr::Identifier(ident) = unit else {
        return None;
    };
    Some(match ident.value.to_uppercase().as_str() {
        "SECOND" => "second",
        "MINUTE" => "minute",
        "HOUR" => "hour",
        "DAY" | "DAYOFYEAR" => "day",
        "WEEK" => "week",
        "MONTH" => "month",
        "QUARTER" => return None,
        "YEAR" => "year",
        _ => return None,
    })
}

/// The number 1.
fn one() -> Expr {
    Expr::value(Value::Number("1".into(), false))
}

fn integer(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn string(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// The strftime format (as a SQL string literal) of the Spark datetime pattern `pattern`;
/// `None` when it is not a literal or uses a letter this does not know.
fn strftime(pattern: &Expr) -> Option<String> {
    let pattern = string(pattern)?;
    // Text the template's own syntax would read otherwise: left as written.
    if pattern.contains(['$', '\\']) {
        return None;
    }
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let literal = |out: &mut String, c: char| match c {
        '%' => out.push_str("%%"),
        c => out.push(c),
    };
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            // Quoted text, in which '' is a quote.
            while let Some(q) = chars.next() {
                if q != '\'' {
                    literal(&mut out, q);
                } else if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    break;
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            literal(&mut out, c);
            continue;
        }
        let mut run = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            run += 1;
        }
        out.push_str(match (c, run) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('a', _) => "%p",
            ('z', _) => "%Z",
            ('Z', _) => "%z",
            ('X' | 'x', _) => "%:z",
            _ => return None,
        });
    }
    Some(format!("'{}'", out.replace('\'', "''")))
}

/// The arguments of a plain call: no `OVER`, `FILTER`, `DISTINCT`, named or `*` arguments.
fn plain_arguments(function: &Function) -> Option<Vec<Expr>> {
    if function.over.is_some() || function.filter.is_some() || !function.within_group.is_empty() {
        return None;
    }
    match &function.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::List(list)
            if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
        {
            list.args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

/// `template` parsed, each `$n` replaced by `arguments[n]`.
/// `None` if it does not parse: a template is fixed text, but a computed one holds a literal
/// taken from the statement, which is left as written rather than trusted to parse.
fn filled(template: &str, arguments: &[Expr]) -> Option<Expr> {
    // Placeholders are written as identifiers the dialect parses; no argument can be one,
    // since arguments are put in after parsing.
    let text = template.replace('$', "__placeholder_");
    let mut expr = Parser::new(&crate::dialect::Databricks)
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .ok()?;
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let Expr::Identifier(ident) = e
            && let Some(n) = ident.value.strip_prefix("__placeholder_")
            && let Some(argument) = n.parse::<usize>().ok().and_then(|n| arguments.get(n))
        {
            *e = argument.clone();
        }
        ControlFlow::<()>::Continue(())
    });
    Some(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_uses_each_of_its_arguments() {
        for (name, count, template) in TEMPLATES {
            let arguments: Vec<Expr> = (0..*count)
                .map(|n| Expr::value(Value::Number(format!("{}", 1000 + n), false)))
                .collect();
            let text = filled(template, &arguments).expect("parses").to_string();
            for n in 0..*count {
                assert!(text.contains(&format!("{}", 1000 + n)), "{name}: {text}");
            }
            assert!(!text.contains("__placeholder_"), "{name}: {text}");
        }
    }

    #[test]
    fn spark_datetime_patterns_are_written_as_strftime() {
        let pattern = |p: &str| strftime(&Expr::value(Value::SingleQuotedString(p.into())));
        assert_eq!(pattern("yyyy-MM-dd").as_deref(), Some("'%Y-%m-%d'"));
        assert_eq!(
            pattern("yyyy-MM-dd'T'HH:mm:ss.SSS").as_deref(),
            Some("'%Y-%m-%dT%H:%M:%S.%3f'")
        );
        assert_eq!(pattern("d MMM yy, h:m a").as_deref(), Some("'%-d %b %y, %-I:%-M %p'"));
        assert_eq!(pattern("EEEE 'o''clock' 100%").as_deref(), Some("'%A o''clock 100%%'"));
        assert_eq!(pattern("yyyy-qq"), None, "a letter it does not know");
        assert_eq!(pattern("yyyy\\"), None, "a backslash");
        for odd in ["yyyy$0", "yyyy-$1"] {
            assert_eq!(pattern(odd), None, "{odd}");
            let call = format!("SELECT date_format(d, '{odd}') FROM t");
            let parsed = crate::statement::Statement::parse(&call).unwrap().parsed;
            assert!(rewrite(parsed).to_string().contains("date_format"), "{call}");
        }
    }

    #[test]
    fn calls_are_replaced_by_name_and_argument_count_only() {
        let rewritten = |sql: &str| {
            let parsed = crate::statement::Statement::parse(sql).unwrap().parsed;
            rewrite(parsed).to_string()
        };
        assert_eq!(
            rewritten("SELECT IF(x > 1, 'a', 'b'), year(d) FROM t"),
            "SELECT CASE WHEN x > 1 THEN 'a' ELSE 'b' END, date_part('year', d) FROM t"
        );
        assert_eq!(
            rewritten("SELECT if(x, 1), t.year(d), count_if(DISTINCT x) FROM t"),
            "SELECT if(x, 1), t.year(d), count_if(DISTINCT x) FROM t",
            "no template fits"
        );
        assert_eq!(
            rewritten("SELECT collect_list(nvl2(a, b, c)) FROM t"),
            "SELECT coalesce(array_agg(CASE WHEN a IS NOT NULL THEN b ELSE c END) FILTER (WHERE \
             CASE WHEN a IS NOT NULL THEN b ELSE c END IS NOT NULL), make_array()) FROM t",
            "nested calls"
        );
    }
}
