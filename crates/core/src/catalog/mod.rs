//! The rules of the catalog: Unity Catalog and the legacy Hive metastore.
//!
//! What a securable is and how its name reads, which privileges apply to which securable (Unity
//! Catalog names on Unity Catalog objects, legacy names on `hive_metastore` objects), how
//! privileges are inherited (catalog → schema → table) and who may create, read and grant.
//! Pure functions: the store gathers the facts (owners, grants, admin status), these decide.

mod privilege;

pub use privilege::{
    Privilege, applicable_privileges, check_privilege, normalize_privilege, revoked_privileges,
    sql_privilege,
};
use std::collections::BTreeSet;
use std::fmt;

/// The legacy, per-workspace catalog every workspace has, Unity Catalog or not.
pub const HIVE_METASTORE: &str = "hive_metastore";

/// The schema `hive_metastore` always has, and the schema a one-part table name lives in.
pub const DEFAULT_SCHEMA: &str = "default";

/// The catalog a metastore assignment creates when it names it as the default.
pub const MAIN_CATALOG: &str = "main";

/// Longest catalog, schema, table or column name Unity Catalog accepts.
pub const MAX_NAME_LEN: usize = 255;

/// The four kinds of securable patchbay models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurableType {
    Metastore,
    Catalog,
    Schema,
    Table,
}

impl SecurableType {
    /// Reads the `{securable_type}` of a grants path: Terraform sends lower case, others upper
    /// case, so any case is accepted.
    pub fn parse(s: &str) -> Option<SecurableType> {
        match s.to_ascii_lowercase().as_str() {
            "metastore" => Some(SecurableType::Metastore),
            "catalog" => Some(SecurableType::Catalog),
            "schema" => Some(SecurableType::Schema),
            "table" => Some(SecurableType::Table),
            _ => None,
        }
    }

    /// Lower case, as in paths and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurableType::Metastore => "metastore",
            SecurableType::Catalog => "catalog",
            SecurableType::Schema => "schema",
            SecurableType::Table => "table",
        }
    }

    /// Upper case, as the API's `SecurableType` enum and `inherited_from_type` spell it.
    pub fn as_upper(self) -> &'static str {
        match self {
            SecurableType::Metastore => "METASTORE",
            SecurableType::Catalog => "CATALOG",
            SecurableType::Schema => "SCHEMA",
            SecurableType::Table => "TABLE",
        }
    }

    /// Capitalized, for messages in Databricks' wording ("on Catalog 'main'").
    pub fn noun(self) -> &'static str {
        match self {
            SecurableType::Metastore => "Metastore",
            SecurableType::Catalog => "Catalog",
            SecurableType::Schema => "Schema",
            SecurableType::Table => "Table",
        }
    }
}

impl fmt::Display for SecurableType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A securable by name: what a grant is on, and what a permission check is about. Names are
/// normalized (lower case) by [`Securable::parse`] and the constructors of the SQL resolver.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Securable {
    /// The workspace's metastore (its id is checked by the caller).
    Metastore,
    Catalog(String),
    Schema(String, String),
    Table(String, String, String),
}

impl Securable {
    /// Reads `(securable_type, full_name)` as the grants API spells them. A metastore's full
    /// name is its id, which this does not check.
    pub fn parse(securable_type: &str, full_name: &str) -> Result<Securable, String> {
        let kind = SecurableType::parse(securable_type).ok_or_else(|| {
            format!(
                "Securable type '{securable_type}' is not supported; use catalog, schema, table or metastore."
            )
        })?;
        if kind == SecurableType::Metastore {
            if full_name.trim().is_empty() {
                return Err("The metastore's full name is its id, which must not be empty.".into());
            }
            return Ok(Securable::Metastore);
        }
        let parts: Vec<&str> = full_name.split('.').collect();
        let expected = match kind {
            SecurableType::Catalog => 1,
            SecurableType::Schema => 2,
            _ => 3,
        };
        if parts.len() != expected {
            let shape = ["catalog", "catalog.schema", "catalog.schema.table"][expected - 1];
            return Err(format!("'{full_name}' is not a valid {kind} name; expected {shape}."));
        }
        let names = parts.iter().map(|p| normalize_name(p)).collect::<Result<Vec<_>, _>>()?;
        Ok(match names.as_slice() {
            [c] => Securable::Catalog(c.clone()),
            [c, s] => Securable::Schema(c.clone(), s.clone()),
            [c, s, t] => Securable::Table(c.clone(), s.clone(), t.clone()),
            _ => return Err(format!("'{full_name}' is not a valid name")),
        })
    }

    /// Which kind of securable this is.
    pub fn securable_type(&self) -> SecurableType {
        match self {
            Securable::Metastore => SecurableType::Metastore,
            Securable::Catalog(_) => SecurableType::Catalog,
            Securable::Schema(..) => SecurableType::Schema,
            Securable::Table(..) => SecurableType::Table,
        }
    }

    /// The catalog the securable is in (itself for a catalog); none for the metastore.
    pub fn catalog(&self) -> Option<&str> {
        match self {
            Securable::Metastore => None,
            Securable::Catalog(c) | Securable::Schema(c, _) | Securable::Table(c, _, _) => Some(c),
        }
    }

    /// Whether this is `hive_metastore` or an object in it: legacy privileges apply there.
    pub fn is_legacy(&self) -> bool {
        self.catalog() == Some(HIVE_METASTORE)
    }

    /// The dotted full name (empty for the metastore, whose full name is its id).
    pub fn full_name(&self) -> String {
        match self {
            Securable::Metastore => String::new(),
            Securable::Catalog(c) => c.clone(),
            Securable::Schema(c, s) => format!("{c}.{s}"),
            Securable::Table(c, s, t) => format!("{c}.{s}.{t}"),
        }
    }

    /// The securable it inherits privileges from, if any. Metastore privileges are not
    /// inherited by catalogs.
    pub fn parent(&self) -> Option<Securable> {
        match self {
            Securable::Metastore | Securable::Catalog(_) => None,
            Securable::Schema(c, _) => Some(Securable::Catalog(c.clone())),
            Securable::Table(c, s, _) => Some(Securable::Schema(c.clone(), s.clone())),
        }
    }

    /// The securable and its ancestors, outermost first (catalog, schema, table).
    pub fn chain(&self) -> Vec<Securable> {
        let mut chain = vec![self.clone()];
        while let Some(parent) = chain.last().and_then(Securable::parent) {
            chain.push(parent);
        }
        chain.reverse();
        chain
    }
}

impl fmt::Display for Securable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Securable::Metastore => f.write_str("metastore"),
            other => write!(f, "{} '{}'", other.securable_type().noun(), other.full_name()),
        }
    }
}

/// Checks a catalog, schema, table or column name and returns it normalized: Unity Catalog and
/// the Hive metastore compare names case-insensitively and store them in lower case.
pub fn normalize_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("A name must not be empty.".into());
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!("The name '{name}' is longer than {MAX_NAME_LEN} characters."));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '.' | ' ' | '/') || c.is_control()) {
        return Err(format!(
            "The name '{}' contains the character {:?}, which is not allowed in names.",
            name.escape_debug(),
            c
        ));
    }
    Ok(name.to_lowercase())
}

/// What the store knows about the caller and one level of a securable's chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelFacts {
    /// The caller, or a group it belongs to, owns this level.
    pub owned: bool,
    /// Privileges granted on this level to the caller or any group it belongs to.
    pub privileges: BTreeSet<Privilege>,
}

/// Everything a permission decision needs, gathered by the store in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessFacts {
    /// The securable is `hive_metastore` or in it.
    pub legacy: bool,
    /// A metastore admin (for Unity Catalog objects) or a workspace admin (for Hive metastore
    /// objects): may do everything.
    pub superuser: bool,
    /// Catalog, then schema, then table, as far down as the securable goes.
    pub levels: Vec<LevelFacts>,
}

/// A refused action, with the message Databricks would give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// What a caller wants to do with catalog objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create a schema in the catalog (facts: the catalog).
    CreateSchema,
    /// Create a table in the schema (facts: catalog, schema).
    CreateTable,
    /// Read a table's metadata and columns (facts: catalog, schema, table).
    ReadTable,
    /// Read a table's or view's rows (facts: catalog, schema, table).
    SelectTable,
    /// Add, change or remove a table's rows (facts: catalog, schema, table).
    ModifyTable,
}

impl AccessFacts {
    /// Privileges held on level `depth`, directly or inherited from the levels above it.
    /// Owning a level counts as `ALL_PRIVILEGES` on it and, by inheritance, on its children.
    pub fn held(&self, depth: usize) -> BTreeSet<Privilege> {
        let mut held = BTreeSet::new();
        for level in self.levels.iter().take(depth + 1) {
            held.extend(level.privileges.iter().copied());
            if level.owned {
                held.insert(Privilege::AllPrivileges);
            }
        }
        held
    }

    /// Whether the caller holds `privilege` on level `depth`. `ALL_PRIVILEGES` covers
    /// everything but `MANAGE`, as in Unity Catalog.
    pub fn has(&self, depth: usize, privilege: Privilege) -> bool {
        self.superuser || privilege.held_in(&self.held(depth))
    }

    /// Whether the caller may grant and revoke on the securable, change its owner or comment,
    /// or drop it: a superuser, the owner of it or of a parent, or (Unity Catalog) a holder of
    /// `MANAGE`.
    pub fn may_manage(&self) -> bool {
        self.superuser
            || self.levels.iter().any(|l| l.owned)
            || (!self.legacy
                && self
                    .levels
                    .len()
                    .checked_sub(1)
                    .is_some_and(|last| self.has(last, Privilege::Manage)))
    }

    /// Whether a listing shows the securable (the last level) to the caller: a superuser, an
    /// owner, or someone holding a privilege that applies to this kind of securable there
    /// (`USE_CATALOG` on a catalog alone does not reveal every schema in it). A table shows to
    /// whoever may read it.
    pub fn visible(&self, kind: SecurableType) -> bool {
        let Some(last) = self.levels.len().checked_sub(1) else {
            return self.superuser;
        };
        if kind == SecurableType::Table {
            return self.missing(Action::ReadTable).is_none();
        }
        if self.superuser || self.levels.iter().any(|l| l.owned) {
            return true;
        }
        let applicable = applicable_privileges(kind, self.legacy);
        self.held(last).iter().any(|p| applicable.contains(p))
    }

    /// The first requirement of `action` the caller does not meet: the level and the
    /// privileges any one of which would do.
    fn missing(&self, action: Action) -> Option<(usize, &'static [Privilege])> {
        // The privilege the action needs on its object (any one of them will do), at the
        // object's level.
        let (depth, any_of): (usize, &'static [Privilege]) = match (action, self.legacy) {
            (Action::CreateSchema, false) => (0, &[Privilege::CreateSchema]),
            (Action::CreateSchema, true) => (0, &[Privilege::Create]),
            (Action::CreateTable, false) => (1, &[Privilege::CreateTable]),
            (Action::CreateTable, true) => (1, &[Privilege::Create]),
            (Action::ReadTable, true) => (2, &[Privilege::Select, Privilege::ReadMetadata]),
            (Action::ReadTable | Action::SelectTable, _) => (2, &[Privilege::Select]),
            (Action::ModifyTable, _) => (2, &[Privilege::Modify]),
        };
        // Before it, the way there: in Unity Catalog `USE_CATALOG` on the catalog and
        // `USE_SCHEMA` on the schema; in the Hive metastore `USAGE` on the object's schema (on
        // the catalog for a new schema).
        let way: &'static [(usize, &'static [Privilege])] = match (self.legacy, depth) {
            (false, 0) => &[(0, &[Privilege::UseCatalog])],
            (false, _) => &[(0, &[Privilege::UseCatalog]), (1, &[Privilege::UseSchema])],
            (true, 0) => &[(0, &[Privilege::Usage])],
            (true, _) => &[(1, &[Privilege::Usage])],
        };
        way.iter().copied().chain([(depth, any_of)]).find(|(depth, any_of)| {
            *depth >= self.levels.len() || !any_of.iter().any(|p| self.has(*depth, *p))
        })
    }

    /// Decides an action; `on` names the object for the error message.
    pub fn check(&self, action: Action, on: &Securable) -> Result<(), Denied> {
        let Some((depth, any_of)) = self.missing(action) else {
            return Ok(());
        };
        let chain = on.chain();
        let name = chain.get(depth).map_or_else(|| on.to_string(), ToString::to_string);
        let wanted =
            any_of.iter().map(|p| sql_privilege(*p, self.legacy)).collect::<Vec<_>>().join(" or ");
        Err(Denied(format!("User does not have {wanted} on {name}.")))
    }
}

/// A change to a table's or a view's definition (`ALTER TABLE`, `ALTER VIEW`, `COMMENT ON`),
/// by what Unity Catalog asks of whoever makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alteration {
    /// Its columns, its comment or its properties: `MODIFY` on a table.
    Definition,
    /// Its name or its owner: the table's to give away, so its owner's.
    Ownership,
}

impl AccessFacts {
    /// Decides an alteration of the table or view the facts are about: whoever may manage it
    /// may make any; `MODIFY` on a table allows changes to its definition. Every change to a
    /// view is its owner's, as Databricks has it. `Err(None)`: only an owner may; `Err(Some)`:
    /// the privilege that is missing.
    pub fn check_alteration(
        &self,
        alteration: Alteration,
        is_view: bool,
        on: &Securable,
    ) -> Result<(), Option<Denied>> {
        if self.may_manage() {
            return Ok(());
        }
        match alteration {
            Alteration::Definition if !is_view => self.check(Action::ModifyTable, on).map_err(Some),
            _ => Err(None),
        }
    }
}

/// Whether the caller may create catalogs: a metastore admin, or a holder of `CREATE_CATALOG`
/// on the metastore.
pub fn may_create_catalog(
    metastore_admin: bool,
    metastore_privileges: &BTreeSet<Privilege>,
) -> bool {
    metastore_admin || metastore_privileges.contains(&Privilege::CreateCatalog)
}

/// Column types patchbay accepts, as the API's `ColumnTypeName` enum spells them.
pub const COLUMN_TYPE_NAMES: &[&str] = &[
    "ARRAY",
    "BINARY",
    "BOOLEAN",
    "BYTE",
    "CHAR",
    "DATE",
    "DECIMAL",
    "DOUBLE",
    "FLOAT",
    "INT",
    "INTERVAL",
    "LONG",
    "MAP",
    "NULL",
    "SHORT",
    "STRING",
    "STRUCT",
    "TIMESTAMP",
    "TIMESTAMP_NTZ",
    "VARIANT",
];

/// The `type_name` of a SQL column type (`bigint` → `LONG`, `decimal(10,2)` → `DECIMAL`,
/// `array<int>` → `ARRAY`), as Unity Catalog reports it for a column created with SQL.
pub fn column_type_name(type_text: &str) -> Result<&'static str, String> {
    let lower = type_text.trim().to_ascii_lowercase();
    let base: String =
        lower.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let name = match base.as_str() {
        "boolean" | "bool" => "BOOLEAN",
        "tinyint" | "byte" => "BYTE",
        "smallint" | "short" => "SHORT",
        "int" | "integer" => "INT",
        "bigint" | "long" => "LONG",
        "float" | "real" => "FLOAT",
        "double" => "DOUBLE",
        "decimal" | "dec" | "numeric" => "DECIMAL",
        "string" | "varchar" => "STRING",
        "char" => "CHAR",
        "binary" => "BINARY",
        "date" => "DATE",
        "timestamp" | "timestamp_ltz" => "TIMESTAMP",
        "timestamp_ntz" => "TIMESTAMP_NTZ",
        "interval" => "INTERVAL",
        "array" => "ARRAY",
        "map" => "MAP",
        "struct" => "STRUCT",
        "variant" => "VARIANT",
        "void" => "NULL",
        _ => return Err(format!("Unsupported column type '{type_text}'.")),
    };
    Ok(name)
}

/// The Spark type name of a simple `type_name` for `type_json`, if it has one.
pub fn spark_type(type_name: &str, type_text: &str) -> String {
    match type_name {
        "BOOLEAN" => "boolean".into(),
        "BYTE" => "byte".into(),
        "SHORT" => "short".into(),
        "INT" => "integer".into(),
        "LONG" => "long".into(),
        "FLOAT" => "float".into(),
        "DOUBLE" => "double".into(),
        "STRING" => "string".into(),
        "BINARY" => "binary".into(),
        "DATE" => "date".into(),
        "TIMESTAMP" => "timestamp".into(),
        "TIMESTAMP_NTZ" => "timestamp_ntz".into(),
        _ => type_text.to_ascii_lowercase(),
    }
}

/// What a table is. The warehouses store a managed table's data under its id; an external
/// table's data is where its location says; a view is its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableType {
    Managed,
    External,
    View,
}

impl TableType {
    /// Every type, in the order an error lists them.
    pub const ALL: [TableType; 3] = [TableType::Managed, TableType::External, TableType::View];

    /// The type's wire name, as the API and `information_schema` show it.
    pub fn as_str(self) -> &'static str {
        match self {
            TableType::Managed => "MANAGED",
            TableType::External => "EXTERNAL",
            TableType::View => "VIEW",
        }
    }

    /// The type a client or a stored row names, in any case and with spaces around it.
    pub fn parse(given: &str) -> Option<TableType> {
        let given = given.trim();
        TableType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(given))
    }

    pub fn is_view(self) -> bool {
        self == TableType::View
    }
}

impl fmt::Display for TableType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Data source formats patchbay accepts on create.
pub const DATA_SOURCE_FORMATS: &[&str] =
    &["DELTA", "CSV", "JSON", "AVRO", "PARQUET", "ORC", "TEXT", "ICEBERG"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_types_read_in_any_case_and_show_their_wire_names() {
        for t in TableType::ALL {
            assert_eq!(TableType::parse(t.as_str()), Some(t));
            assert_eq!(TableType::parse(&format!(" {} ", t.as_str().to_lowercase())), Some(t));
        }
        assert_eq!(TableType::parse("view"), Some(TableType::View));
        assert!(TableType::View.is_view() && !TableType::Managed.is_view());
        assert_eq!(TableType::parse("STREAMING_TABLE"), None);
        assert_eq!(TableType::parse(""), None);
    }

    fn set(ps: &[Privilege]) -> BTreeSet<Privilege> {
        ps.iter().copied().collect()
    }

    fn level(owned: bool, ps: &[Privilege]) -> LevelFacts {
        LevelFacts { owned, privileges: set(ps) }
    }

    fn table() -> Securable {
        Securable::Table("main".into(), "sales".into(), "orders".into())
    }

    #[test]
    fn securables_parse_case_insensitively_and_normalize_names() {
        assert_eq!(Securable::parse("CATALOG", "Main"), Ok(Securable::Catalog("main".into())));
        assert_eq!(
            Securable::parse("schema", "main.Sales"),
            Ok(Securable::Schema("main".into(), "sales".into()))
        );
        assert_eq!(Securable::parse("Table", "main.sales.orders"), Ok(table()));
        assert_eq!(Securable::parse("metastore", "11111111-2222"), Ok(Securable::Metastore));
        for (t, n) in [
            ("catalog", "a.b"),
            ("schema", "main"),
            ("table", "a.b"),
            ("table", "a..c"),
            ("volume", "a.b.c"),
            ("metastore", ""),
            ("schema", "main.with space"),
        ] {
            assert!(Securable::parse(t, n).is_err(), "{t} {n}");
        }
    }

    #[test]
    fn chains_run_from_the_catalog_down() {
        assert_eq!(
            table().chain(),
            vec![
                Securable::Catalog("main".into()),
                Securable::Schema("main".into(), "sales".into()),
                table()
            ]
        );
        assert_eq!(Securable::Metastore.chain(), vec![Securable::Metastore]);
        assert!(Securable::Schema(HIVE_METASTORE.into(), "default".into()).is_legacy());
        assert!(!table().is_legacy());
        assert_eq!(table().to_string(), "Table 'main.sales.orders'");
    }

    #[test]
    fn names_refuse_dots_spaces_slashes_and_control_characters() {
        assert_eq!(normalize_name("Sales_2024"), Ok("sales_2024".into()));
        let long = "x".repeat(256);
        for bad in ["", "a.b", "a b", "a/b", "a\u{1}b", long.as_str()] {
            assert!(normalize_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn privileges_are_normalized_and_checked_per_securable() {
        assert_eq!(normalize_privilege(" use catalog "), "USE_CATALOG");
        assert_eq!(normalize_privilege("ALL PRIVILEGES"), "ALL_PRIVILEGES");
        let catalog = Securable::Catalog("main".into());
        assert_eq!(check_privilege(&catalog, "use catalog"), Ok(Privilege::UseCatalog));
        assert!(check_privilege(&table(), "USE_CATALOG").is_err());
        assert!(check_privilege(&table(), "CREATE_TABLE").is_err());
        assert!(check_privilege(&Securable::Metastore, "CREATE_CATALOG").is_ok());
        assert!(check_privilege(&Securable::Metastore, "ALL_PRIVILEGES").is_err());
        let err = check_privilege(&catalog, "USAGE").unwrap_err();
        assert!(err.contains("legacy"), "{err}");
        assert!(check_privilege(&catalog, "OWN").unwrap_err().contains("owner"));
    }

    #[test]
    fn each_securable_lists_the_privileges_its_table_marks_for_it() {
        use SecurableType::{Catalog, Schema, Table};
        assert_eq!(applicable_privileges(Catalog, false).len(), 19);
        let schema = applicable_privileges(Schema, false);
        assert_eq!(schema.len(), 16);
        assert!(schema.contains(&Privilege::UseSchema) && !schema.contains(&Privilege::UseCatalog));
        let names = |ps: &[Privilege]| ps.iter().map(|p| p.as_str()).collect::<Vec<_>>();
        assert_eq!(
            names(applicable_privileges(Table, false)),
            ["ALL_PRIVILEGES", "APPLY_TAG", "MANAGE", "MODIFY", "SELECT"]
        );
        assert_eq!(applicable_privileges(Catalog, true).len(), 8);
        assert!(!applicable_privileges(Schema, true).contains(&Privilege::ModifyClasspath));
        assert_eq!(
            names(applicable_privileges(Table, true)),
            ["ALL_PRIVILEGES", "MODIFY", "READ_METADATA", "SELECT"]
        );
    }

    #[test]
    fn legacy_objects_take_legacy_privileges_in_both_spellings() {
        let hive = Securable::Catalog(HIVE_METASTORE.into());
        let db = Securable::Schema(HIVE_METASTORE.into(), "default".into());
        let t = Securable::Table(HIVE_METASTORE.into(), "default".into(), "t".into());
        for p in ["USAGE", "CREATE", "READ_METADATA", "SELECT", "MODIFY"] {
            assert!(check_privilege(&hive, p).is_ok(), "{p}");
            assert!(check_privilege(&db, p).is_ok(), "{p}");
        }
        assert_eq!(check_privilege(&t, "ALL PRIVILEGES"), Ok(Privilege::AllPrivileges));
        assert_eq!(check_privilege(&t, "all_privileges"), Ok(Privilege::AllPrivileges));
        assert!(check_privilege(&t, "USAGE").is_err());
        let err = check_privilege(&hive, "USE_CATALOG").unwrap_err();
        assert!(err.contains("USAGE"), "{err}");
    }

    #[test]
    fn sql_spelling_of_privileges() {
        assert_eq!(sql_privilege(Privilege::UseCatalog, false), "USE CATALOG");
        assert_eq!(sql_privilege(Privilege::AllPrivileges, true), "ALL PRIVILEGES");
        assert_eq!(sql_privilege(Privilege::ReadMetadata, true), "READ_METADATA");
    }

    #[test]
    fn revoking_all_privileges_clears_legacy_grants_only() {
        let hive = Securable::Schema(HIVE_METASTORE.into(), "default".into());
        let all = vec![Privilege::AllPrivileges];
        assert!(revoked_privileges(&hive, &all).contains(&Privilege::Usage));
        assert_eq!(revoked_privileges(&table(), &all), all);
    }

    #[test]
    fn selecting_and_modifying_rows_need_select_and_modify() {
        let on = table();
        let mut facts = AccessFacts {
            legacy: false,
            superuser: false,
            levels: vec![
                level(false, &[Privilege::UseCatalog]),
                level(false, &[Privilege::UseSchema]),
                level(false, &[Privilege::Select]),
            ],
        };
        assert!(facts.check(Action::SelectTable, &on).is_ok());
        let err = facts.check(Action::ModifyTable, &on).unwrap_err();
        assert!(err.0.contains("MODIFY on Table 'main.sales.orders'"), "{err:?}");
        // MODIFY granted on the schema reaches its tables.
        facts.levels[1] = level(false, &[Privilege::UseSchema, Privilege::Modify]);
        assert!(facts.check(Action::ModifyTable, &on).is_ok());
        // The owner of a table may do both, given the use of its catalog and schema.
        facts.levels[1] = level(false, &[]);
        facts.levels[2] = level(true, &[]);
        assert!(facts.check(Action::SelectTable, &on).is_err());
        facts.levels[1] = level(false, &[Privilege::UseSchema]);
        assert!(facts.check(Action::SelectTable, &on).is_ok());
        assert!(facts.check(Action::ModifyTable, &on).is_ok());
        // In the Hive metastore, READ_METADATA shows a table but does not read it.
        let hive = Securable::Table(HIVE_METASTORE.into(), "default".into(), "t".into());
        let legacy = AccessFacts {
            legacy: true,
            superuser: false,
            levels: vec![
                level(false, &[]),
                level(false, &[Privilege::Usage]),
                level(false, &[Privilege::ReadMetadata]),
            ],
        };
        assert!(legacy.check(Action::ReadTable, &hive).is_ok());
        assert!(legacy.check(Action::SelectTable, &hive).is_err());
        assert!(legacy.check(Action::ModifyTable, &hive).is_err());
    }

    #[test]
    fn altering_a_table_needs_modify_and_renaming_it_needs_its_owner() {
        let on = table();
        let modifier = AccessFacts {
            legacy: false,
            superuser: false,
            levels: vec![
                level(false, &[Privilege::UseCatalog]),
                level(false, &[Privilege::UseSchema]),
                level(false, &[Privilege::Modify]),
            ],
        };
        assert_eq!(modifier.check_alteration(Alteration::Definition, false, &on), Ok(()));
        assert_eq!(modifier.check_alteration(Alteration::Ownership, false, &on), Err(None));
        // A view's definition is its owner's alone.
        assert_eq!(modifier.check_alteration(Alteration::Definition, true, &on), Err(None));
        let reader = AccessFacts {
            levels: vec![
                level(false, &[Privilege::UseCatalog]),
                level(false, &[Privilege::UseSchema]),
                level(false, &[Privilege::Select]),
            ],
            ..modifier.clone()
        };
        let Err(Some(denied)) = reader.check_alteration(Alteration::Definition, false, &on) else {
            panic!("a reader altered a table");
        };
        assert!(denied.0.contains("MODIFY"), "{denied:?}");
        // The owner of the schema, or a holder of MANAGE on the table, may do anything.
        for manager in [
            vec![level(false, &[Privilege::UseCatalog]), level(true, &[]), level(false, &[])],
            vec![
                level(false, &[Privilege::UseCatalog]),
                level(false, &[Privilege::UseSchema]),
                level(false, &[Privilege::Manage]),
            ],
        ] {
            let facts = AccessFacts { levels: manager, ..modifier.clone() };
            for alteration in [Alteration::Definition, Alteration::Ownership] {
                assert_eq!(facts.check_alteration(alteration, true, &on), Ok(()));
            }
        }
    }

    #[test]
    fn reading_a_table_needs_use_catalog_use_schema_and_select() {
        let on = table();
        let mut facts = AccessFacts {
            legacy: false,
            superuser: false,
            levels: vec![level(false, &[]), level(false, &[]), level(false, &[])],
        };
        let err = facts.check(Action::ReadTable, &on).unwrap_err();
        assert_eq!(err.0, "User does not have USE CATALOG on Catalog 'main'.");
        facts.levels[0] = level(false, &[Privilege::UseCatalog]);
        facts.levels[1] = level(false, &[Privilege::UseSchema]);
        let err = facts.check(Action::ReadTable, &on).unwrap_err();
        assert!(err.0.contains("SELECT on Table 'main.sales.orders'"), "{err:?}");
        assert!(!facts.visible(SecurableType::Table));
        // SELECT granted on the schema is inherited by its tables.
        facts.levels[1] = level(false, &[Privilege::UseSchema, Privilege::Select]);
        assert!(facts.check(Action::ReadTable, &on).is_ok());
        assert!(facts.visible(SecurableType::Table));
        // Owning the table stands for SELECT, not for USE_SCHEMA.
        facts.levels[1] = level(false, &[]);
        facts.levels[2] = level(true, &[]);
        assert!(facts.check(Action::ReadTable, &on).is_err());
        facts.levels[1] = level(false, &[Privilege::UseSchema]);
        assert!(facts.check(Action::ReadTable, &on).is_ok());
        // A metastore admin may do all.
        let admin = AccessFacts { superuser: true, ..AccessFacts::default() };
        let admin = AccessFacts { levels: vec![LevelFacts::default(); 3], ..admin };
        assert!(admin.check(Action::ReadTable, &on).is_ok());
    }

    #[test]
    fn creating_needs_use_and_create_or_ownership_or_all_privileges() {
        let catalog = Securable::Catalog("main".into());
        let facts =
            |l: LevelFacts| AccessFacts { legacy: false, superuser: false, levels: vec![l] };
        assert!(
            facts(level(false, &[Privilege::UseCatalog]))
                .check(Action::CreateSchema, &catalog)
                .is_err()
        );
        assert!(
            facts(level(false, &[Privilege::UseCatalog, Privilege::CreateSchema]))
                .check(Action::CreateSchema, &catalog)
                .is_ok()
        );
        assert!(
            facts(level(false, &[Privilege::AllPrivileges]))
                .check(Action::CreateSchema, &catalog)
                .is_ok()
        );
        assert!(facts(level(true, &[])).check(Action::CreateSchema, &catalog).is_ok());
        // The owner of a schema may create tables in it, given USE_CATALOG.
        let schema = Securable::Schema("main".into(), "s".into());
        let owner = AccessFacts {
            legacy: false,
            superuser: false,
            levels: vec![level(false, &[Privilege::UseCatalog]), level(true, &[])],
        };
        assert!(owner.check(Action::CreateTable, &schema).is_ok());
    }

    #[test]
    fn legacy_rules_use_usage_create_and_read_metadata() {
        let db = Securable::Schema(HIVE_METASTORE.into(), "default".into());
        let t = Securable::Table(HIVE_METASTORE.into(), "default".into(), "t".into());
        let mut facts = AccessFacts {
            legacy: true,
            superuser: false,
            levels: vec![level(false, &[Privilege::Usage, Privilege::Create]), level(false, &[])],
        };
        // USAGE and CREATE on hive_metastore are inherited by its schemas.
        assert!(facts.check(Action::CreateTable, &db).is_ok());
        assert!(facts.visible(SecurableType::Schema));
        facts.levels = vec![
            level(false, &[]),
            level(false, &[Privilege::Usage, Privilege::ReadMetadata]),
            level(false, &[]),
        ];
        assert!(facts.check(Action::ReadTable, &t).is_ok());
        facts.levels[1] = level(false, &[Privilege::ReadMetadata]);
        let err = facts.check(Action::ReadTable, &t).unwrap_err();
        assert!(err.0.contains("USAGE"), "{err:?}");
        // Workspace admins are the superusers of the Hive metastore.
        facts.superuser = true;
        assert!(facts.check(Action::ReadTable, &t).is_ok());
        assert!(facts.may_manage());
    }

    #[test]
    fn who_may_manage_and_who_sees_what() {
        let mut facts = AccessFacts {
            legacy: false,
            superuser: false,
            levels: vec![
                level(false, &[Privilege::UseCatalog, Privilege::CreateSchema]),
                level(false, &[]),
            ],
        };
        assert!(!facts.may_manage());
        assert!(facts.visible(SecurableType::Catalog));
        assert!(!facts.visible(SecurableType::Schema), "USE_CATALOG does not reveal schemas");
        facts.levels[1].owned = true;
        assert!(facts.may_manage());
        assert!(facts.visible(SecurableType::Schema));
        facts.levels[1] = level(false, &[Privilege::Manage]);
        assert!(facts.may_manage());
        facts.levels[1] = level(false, &[Privilege::AllPrivileges]);
        assert!(!facts.may_manage(), "ALL_PRIVILEGES does not include MANAGE");
    }

    #[test]
    fn catalog_creation_needs_create_catalog_or_metastore_admin() {
        assert!(may_create_catalog(true, &BTreeSet::new()));
        assert!(may_create_catalog(false, &set(&[Privilege::CreateCatalog])));
        assert!(!may_create_catalog(false, &set(&[Privilege::CreateShare])));
    }

    #[test]
    fn column_types_map_to_the_api_enum() {
        assert_eq!(column_type_name("BIGINT"), Ok("LONG"));
        assert_eq!(column_type_name("decimal(10,2)"), Ok("DECIMAL"));
        assert_eq!(column_type_name("array<string>"), Ok("ARRAY"));
        assert_eq!(column_type_name("varchar(20)"), Ok("STRING"));
        assert!(column_type_name("geometry").is_err());
        assert_eq!(spark_type("INT", "int"), "integer");
        for t in COLUMN_TYPE_NAMES {
            assert_eq!(normalize_privilege(t), *t);
        }
    }
}
