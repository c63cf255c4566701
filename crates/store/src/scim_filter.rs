//! SCIM filters as SQL: a parsed [`Filter`] becomes a `WHERE` fragment over `principals p`, so
//! that a filtered list uses the indexes instead of loading every principal.

use crate::sql::Sql;
use crate::{FilterError, Rejected};
use patchbay_core::principal::PrincipalKind;
use patchbay_core::scim::filter::{AttrPath, CompValue, CompareOp, Filter};

/// How a column compares.
#[derive(Clone, Copy)]
enum ColType {
    /// Case-insensitive text: compared as `LOWER(col)` with a lower-cased parameter.
    CiText,
    /// Text stored lower-case already (application ids): the parameter is lower-cased.
    LowerText,
    /// Case-exact text.
    ExactText,
    /// 0/1 flag.
    Flag,
    /// A numeric SCIM id, shown as a decimal string.
    Id,
}

/// A multi-valued attribute, stored in a side table.
#[derive(Clone, Copy)]
enum Multi {
    Values(&'static str),
    Groups,
    Members,
}

enum Target {
    Column(&'static str, ColType),
    Multi(Multi, Option<String>),
}

/// Translates `filter` into SQL for principals of `kind`. The error says what of the filter
/// patchbay cannot translate.
pub(crate) fn translate(filter: &Filter, kind: PrincipalKind) -> Result<Sql, FilterError> {
    let mut sql = Sql::default();
    node(&mut sql, filter, Scope::Top(kind))?;
    Ok(sql)
}

#[derive(Clone, Copy)]
enum Scope {
    Top(PrincipalKind),
    Element(Multi),
}

fn node(sql: &mut Sql, filter: &Filter, scope: Scope) -> Result<(), FilterError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            let op = if matches!(filter, Filter::And(..)) { " AND " } else { " OR " };
            sql.push("(");
            node(sql, a, scope)?;
            sql.push(op);
            node(sql, b, scope)?;
            sql.push(")");
        }
        Filter::Not(inner) => {
            sql.push("(NOT ");
            node(sql, inner, scope)?;
            sql.push(")");
        }
        Filter::Present(path) => match target(path, scope)? {
            Target::Column(col, ColType::Flag | ColType::Id) => {
                sql.push(&format!("({col} IS NOT NULL)"));
            }
            Target::Column(col, _) => {
                sql.push(&format!("({col} IS NOT NULL AND {col} <> '')"));
            }
            Target::Multi(multi, sub) => exists(sql, multi, |sql| match sub {
                None => {
                    sql.push("1 = 1");
                    Ok(())
                }
                Some(sub) => node(
                    sql,
                    &Filter::Present(AttrPath { urn: None, name: sub, sub: None }),
                    Scope::Element(multi),
                ),
            })?,
        },
        Filter::Compare { path, op, value } => match target(path, scope)? {
            Target::Column(col, ty) => compare(sql, col, ty, *op, value, path)?,
            Target::Multi(multi, sub) => {
                let element_path = AttrPath {
                    urn: None,
                    name: sub.unwrap_or_else(|| "value".to_owned()),
                    sub: None,
                };
                exists(sql, multi, |sql| {
                    node(
                        sql,
                        &Filter::Compare { path: element_path, op: *op, value: value.clone() },
                        Scope::Element(multi),
                    )
                })?;
            }
        },
        Filter::ValuePath { attr, filter } => match (target(attr, scope)?, scope) {
            (Target::Multi(multi, None), Scope::Top(_)) => {
                exists(sql, multi, |sql| node(sql, filter, Scope::Element(multi)))?;
            }
            _ => {
                return Err(FilterError::NotMultiValued { attribute: show(attr) });
            }
        },
    }
    Ok(())
}

fn exists(
    sql: &mut Sql,
    multi: Multi,
    inner: impl FnOnce(&mut Sql) -> Result<(), FilterError>,
) -> Result<(), FilterError> {
    match multi {
        Multi::Values(attr) => {
            sql.push("EXISTS (SELECT 1 FROM principal_values v WHERE v.principal_id = p.id AND v.attr = ");
            sql.text(attr);
            sql.push(" AND ");
        }
        Multi::Groups => {
            sql.push(
                "EXISTS (SELECT 1 FROM memberships m JOIN principals g ON g.id = m.group_id \
                 WHERE m.member_id = p.id AND ",
            );
        }
        Multi::Members => {
            sql.push(
                "EXISTS (SELECT 1 FROM memberships m JOIN principals mp ON mp.id = m.member_id \
                 WHERE m.group_id = p.id AND ",
            );
        }
    }
    inner(sql)?;
    sql.push(")");
    Ok(())
}

fn target(path: &AttrPath, scope: Scope) -> Result<Target, FilterError> {
    if let Some(urn) = &path.urn {
        let core = match scope {
            Scope::Top(kind) => {
                format!("urn:ietf:params:scim:schemas:core:2.0:{}", kind.resource_type())
            }
            Scope::Element(_) => String::new(),
        };
        if !urn.eq_ignore_ascii_case(&core) {
            return Err(FilterError::UnsupportedAttribute { attribute: show(path) });
        }
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    let unsupported = || Err(FilterError::UnsupportedAttribute { attribute: show(path) });
    let col = |c: &'static str, t: ColType| Ok(Target::Column(c, t));
    match scope {
        Scope::Top(kind) => match (name.as_str(), sub.as_deref(), kind) {
            ("id", None, _) => col("p.id", ColType::Id),
            ("username", None, PrincipalKind::User) => col("p.user_name", ColType::CiText),
            ("applicationid", None, PrincipalKind::ServicePrincipal) => {
                col("p.application_id", ColType::LowerText)
            }
            ("displayname", None, _) => col("p.display_name", ColType::CiText),
            ("externalid", None, _) => col("p.external_id", ColType::ExactText),
            ("active", None, PrincipalKind::User | PrincipalKind::ServicePrincipal) => {
                col("COALESCE(p.active, 1)", ColType::Flag)
            }
            ("name", Some("givenname"), PrincipalKind::User) => {
                col("p.given_name", ColType::CiText)
            }
            ("name", Some("familyname"), PrincipalKind::User) => {
                col("p.family_name", ColType::CiText)
            }
            ("entitlements", _, _) => Ok(Target::Multi(Multi::Values("entitlements"), sub)),
            ("roles", _, _) => Ok(Target::Multi(Multi::Values("roles"), sub)),
            ("emails", _, PrincipalKind::User) => Ok(Target::Multi(Multi::Values("emails"), sub)),
            ("groups", _, PrincipalKind::User | PrincipalKind::ServicePrincipal) => {
                Ok(Target::Multi(Multi::Groups, sub))
            }
            ("members", _, PrincipalKind::Group) => Ok(Target::Multi(Multi::Members, sub)),
            _ => unsupported(),
        },
        Scope::Element(multi) => match (multi, name.as_str(), sub.as_deref()) {
            (Multi::Values(_), "value", None) => col("v.value", ColType::CiText),
            (Multi::Values(_), "type", None) => col("v.value_type", ColType::CiText),
            (Multi::Values(_), "primary", None) => col("v.is_primary", ColType::Flag),
            (Multi::Groups, "value", None) => col("m.group_id", ColType::Id),
            (Multi::Groups, "display", None) => col("g.display_name", ColType::CiText),
            (Multi::Members, "value", None) => col("m.member_id", ColType::Id),
            (Multi::Members, "display", None) => {
                col("COALESCE(mp.display_name, mp.user_name)", ColType::CiText)
            }
            _ => unsupported(),
        },
    }
}

fn compare(
    sql: &mut Sql,
    col: &str,
    ty: ColType,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
) -> Result<(), FilterError> {
    let text = match value {
        CompValue::Str(s) => s.clone(),
        CompValue::Number(n) => n.clone(),
        CompValue::Bool(b) => b.to_string(),
        CompValue::Null => {
            return match op {
                CompareOp::Eq => {
                    sql.push(&format!("({col} IS NULL)"));
                    Ok(())
                }
                CompareOp::Ne => {
                    sql.push(&format!("({col} IS NOT NULL)"));
                    Ok(())
                }
                _ => Err(FilterError::NullComparison { attribute: show(path) }),
            };
        }
    };
    match ty {
        ColType::Flag => {
            let flag = match text.to_ascii_lowercase().as_str() {
                "true" => 1,
                "false" => 0,
                _ => {
                    return Err(FilterError::NotBoolean { attribute: show(path) });
                }
            };
            match op {
                CompareOp::Eq => sql.push(&format!("{col} = ")).int(flag),
                CompareOp::Ne => sql.push(&format!("{col} <> ")).int(flag),
                _ => {
                    return Err(FilterError::BooleanOperator {
                        operator: op.as_str(),
                        attribute: show(path),
                    });
                }
            };
        }
        ColType::Id => match (op, patchbay_core::ids::parse_numeric_id(&text)) {
            (CompareOp::Eq, Some(id)) => {
                sql.push(&format!("{col} = ")).int(id);
            }
            (CompareOp::Eq, None) => {
                sql.push("(1 = 0)");
            }
            (CompareOp::Ne, Some(id)) => {
                sql.push(&format!("{col} <> ")).int(id);
            }
            (CompareOp::Ne, None) => {
                sql.push("(1 = 1)");
            }
            _ => text_compare(sql, &format!("CAST({col} AS TEXT)"), op, text),
        },
        ColType::CiText => text_compare(sql, &format!("LOWER({col})"), op, text.to_lowercase()),
        ColType::LowerText => text_compare(sql, col, op, text.to_lowercase()),
        ColType::ExactText => text_compare(sql, col, op, text),
    }
    Ok(())
}

fn text_compare(sql: &mut Sql, lhs: &str, op: CompareOp, value: String) {
    let like = |pattern: String, sql: &mut Sql| {
        sql.push(&format!("{lhs} LIKE ")).text(pattern).push(" ESCAPE '\\'");
    };
    match op {
        CompareOp::Eq => {
            sql.push(&format!("{lhs} = ")).text(value);
        }
        CompareOp::Ne => {
            sql.push(&format!("({lhs} IS NULL OR {lhs} <> ")).text(value).push(")");
        }
        CompareOp::Co => like(format!("%{}%", escape_like(&value)), sql),
        CompareOp::Sw => like(format!("{}%", escape_like(&value)), sql),
        CompareOp::Ew => like(format!("%{}", escape_like(&value)), sql),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            sql.push(&format!("{lhs} {} ", sql_operator(op))).text(value);
        }
    }
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn sql_operator(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Eq => "=",
        _ => "<>",
    }
}

fn show(path: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(urn) = &path.urn {
        s.push_str(urn);
        s.push(':');
    }
    s.push_str(&path.name);
    if let Some(sub) = &path.sub {
        s.push('.');
        s.push_str(sub);
    }
    s
}

/// The column a SCIM `sortBy` names, for principals of `kind`.
pub(crate) fn sort_column(path: &AttrPath, kind: PrincipalKind) -> Result<&'static str, Rejected> {
    match target(path, Scope::Top(kind)).map_err(Rejected::SortBy)? {
        Target::Column(col, _) => Ok(col),
        Target::Multi(..) => Err(Rejected::SortByMultiValued { attribute: show(path) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchbay_core::scim::filter::parse_filter;

    fn sql_of(f: &str, kind: PrincipalKind) -> String {
        translate(&parse_filter(f).unwrap(), kind).unwrap().as_str().to_owned()
    }

    #[test]
    fn equality_on_application_id_uses_the_stored_column() {
        assert_eq!(
            sql_of(
                "applicationId eq \"6E2B0C46-0000-0000-0000-000000000000\"",
                PrincipalKind::ServicePrincipal
            ),
            "p.application_id = $1"
        );
    }

    #[test]
    fn value_paths_become_exists_subqueries() {
        let s =
            sql_of("emails[type eq \"work\" and value co \"@example.com\"]", PrincipalKind::User);
        assert!(s.starts_with("EXISTS (SELECT 1 FROM principal_values v"), "{s}");
        assert!(s.contains("LIKE $3 ESCAPE"), "{s}");
    }

    #[test]
    fn attributes_of_another_kind_are_refused() {
        let f = parse_filter("userName eq \"a@b.c\"").unwrap();
        assert!(translate(&f, PrincipalKind::ServicePrincipal).is_err());
        let f = parse_filter("members.value eq \"1\"").unwrap();
        assert!(translate(&f, PrincipalKind::User).is_err());
    }

    fn refusal(f: &str) -> FilterError {
        translate(&parse_filter(f).unwrap(), PrincipalKind::User).unwrap_err()
    }

    #[test]
    fn a_refusal_names_the_attribute_as_written_and_the_operator() {
        let attribute = |a: &str| a.to_owned();
        assert_eq!(
            refusal("nickName eq \"x\""),
            FilterError::UnsupportedAttribute { attribute: attribute("nickName") }
        );
        assert_eq!(
            refusal("displayName[value eq \"x\"]"),
            FilterError::NotMultiValued { attribute: attribute("displayName") }
        );
        assert_eq!(
            refusal("userName gt null"),
            FilterError::NullComparison { attribute: attribute("userName") }
        );
        assert_eq!(
            refusal("active eq \"yes\""),
            FilterError::NotBoolean { attribute: attribute("active") }
        );
        assert_eq!(
            refusal("active gt true"),
            FilterError::BooleanOperator { operator: "gt", attribute: attribute("active") }
        );
    }

    #[test]
    fn sorting_by_a_multi_valued_or_unknown_attribute_is_rejected() {
        let path = |name: &str| AttrPath { urn: None, name: name.to_owned(), sub: None };
        assert_eq!(sort_column(&path("userName"), PrincipalKind::User), Ok("p.user_name"));
        assert_eq!(
            sort_column(&path("emails"), PrincipalKind::User),
            Err(Rejected::SortByMultiValued { attribute: "emails".into() })
        );
        assert_eq!(
            sort_column(&path("members"), PrincipalKind::User),
            Err(Rejected::SortBy(FilterError::UnsupportedAttribute {
                attribute: "members".into()
            }))
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}
