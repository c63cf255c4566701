//! The schema: one migration a file under `migrations/`, written once for both databases.
//!
//! The few things SQLite and PostgreSQL spell differently (a generated id column, a new UUID,
//! random hex) stand in a migration's text as `{{…}}` placeholders, which
//! [`SchemaChange::sql`] spells for one [`Backend`].
//!
//! Append-only: sqlx records the checksum of each migration it applies and refuses a database
//! whose applied text has changed since, so a released migration's text, as either dialect
//! renders it, never changes. Migrations 1–17 were released as one file per dialect; their
//! rendering is that text byte for byte (down to the comment naming the other dialect's file),
//! and a test holds it to the checksums they were released with.

use crate::Backend;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType};
use std::borrow::Cow;

/// One schema change, for both dialects.
pub(crate) struct SchemaChange {
    pub(crate) version: i64,
    pub(crate) description: &'static str,
    source: &'static str,
}

impl SchemaChange {
    /// The change's SQL in `backend`'s dialect.
    pub(crate) fn sql(&self, backend: Backend) -> String {
        let mut sql = String::with_capacity(self.source.len());
        let mut rest = self.source;
        while let Some(start) = rest.find("{{") {
            sql.push_str(&rest[..start]);
            let (placeholder, after) = rest[start + 2..]
                .split_once("}}")
                .unwrap_or_else(|| panic!("{}: an unclosed {{{{", self.description));
            sql.push_str(spelling(placeholder, backend).unwrap_or_else(|| {
                panic!("{}: no spelling for {{{{{placeholder}}}}}", self.description)
            }));
            rest = after;
        }
        sql.push_str(rest);
        sql
    }

    /// The change as sqlx applies it (and checksums it) on `backend`.
    pub(crate) fn migration(&self, backend: Backend) -> Migration {
        Migration::new(
            self.version,
            Cow::Borrowed(self.description),
            MigrationType::Simple,
            sqlx::AssertSqlSafe(self.sql(backend)).into_sql_str(),
            false,
        )
    }
}

/// How each dialect spells a placeholder.
fn spelling(placeholder: &str, backend: Backend) -> Option<&'static str> {
    let (sqlite, postgres) = match placeholder {
        "serial key" => ("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"),
        "new uuid" => (
            "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || \
             substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || \
             substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))",
            "gen_random_uuid()::text",
        ),
        "random hex" => {
            ("lower(hex(randomblob(16)))", "md5(random()::text || clock_timestamp()::text)")
        }
        "the other dialect" => ("postgres", "sqlite"),
        _ => return None,
    };
    Some(match backend {
        Backend::Sqlite => sqlite,
        Backend::Postgres => postgres,
    })
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        SchemaChange {
            version: $version,
            description: $name,
            source: include_str!(concat!("../migrations/", $name, ".sql")),
        }
    };
}

pub(crate) const MIGRATIONS: &[SchemaChange] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_object_permissions"),
    migration!(3, "0003_compute"),
    migration!(4, "0004_catalog"),
    migration!(5, "0005_partner_connect"),
    migration!(6, "0006_ui_sessions"),
    migration!(7, "0007_runs_and_secrets"),
    migration!(8, "0008_connection_steps"),
    migration!(9, "0009_oauth"),
    migration!(10, "0010_oauth_jwt"),
    migration!(11, "0011_oauth_apps"),
    migration!(12, "0012_oauth_consents"),
    migration!(13, "0013_sql"),
    migration!(14, "0014_principal_values_order"),
    migration!(15, "0015_sql_nodes"),
    migration!(16, "0016_query_history_retention"),
    migration!(17, "0017_node_certificates"),
    migration!(18, "0018_sealed_credentials"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A migration file that is not listed is never applied: every file is listed, in order,
    /// under the version its name begins with.
    #[test]
    fn every_migration_file_is_applied() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let listed: Vec<String> =
            MIGRATIONS.iter().map(|m| format!("{}.sql", m.description)).collect();
        assert_eq!(listed, files);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i64::try_from(i).unwrap() + 1, "{}", m.description);
            assert!(m.description.starts_with(&format!("{:04}_", m.version)));
        }
    }

    /// The SHA-384 checksums sqlx recorded for the released migrations, SQLite's then
    /// PostgreSQL's: a database migrated by an earlier release must start on this one.
    const RELEASED: &[(&str, &str)] = &[
        (
            "b22efcbdc051320dd56f904de6fc9ed6953bad9d90e959e8790aa2568286dabdae10d1a66818cec186126296d97b2089",
            "f8aacc4480152b56591f60d00a7e967eb616b499ae745e6c843cbf629d1f8dd743c858c583a82398bb4bc52dff1633db",
        ),
        (
            "f5245a9d2aae7b268d9c735ae4817c4fac0201a8bc8b493aca4b4b76d957df1aefdc1b5eed7487231efd248afc570e82",
            "66f6b7e405c553688e0c193351df0cb667c0c5b2b614d25e8c867fb9a7aebf2f5545f7238a0e3b06fdaea3249b9af900",
        ),
        (
            "bf6d7a5b2cc577e5b246b41edd79739e9e122ddd8eb209ee09985285f922592a7aa00e3381a497ca7504780cd6ec7ff8",
            "1fc23970222003e8e9c02f3c39e40cc554741889af6dd362e3ea10e7238c565c26fac9db98210c1433cc12beeea01ddd",
        ),
        (
            "a040e4adc0b2b34f0dbb7299d7e9b68da05d26fa511e6b3d9d9be55dbdc2dae425b2eb7c82ce6df98155137cebda41ad",
            "0044cc7bf9431d0026253c3c063f65590ffe3934e7f77232790ebd711bfd08ee2d9d370d321748c8a12696e593fddadf",
        ),
        (
            "f2c6d0125c21b95eed5e0aa8978d45472c620a2b019bc50bf062691120a24ff0fc4d1136bf008df882bb56023baba23f",
            "34b60c6461c1be5e7b0d23f248b10b6ee1cfa5c5835f397910b603068ef696182d1baab2dcce15e18c48d08b97090292",
        ),
        (
            "46606f62f7ad6e9636b3006ecc1d2c0ccb39a487e98ddeed069fb62cefe32e4b80fea384caa58932f5138e2044d7b029",
            "92e4ac8010b8492b87dfa512fb5f7d6c1e93cd49ab26e8576897d0d975ca2d1fe55fc30a4cfe5bc3b686394606541100",
        ),
        (
            "c4995b66c57516226f4a75b8ab49e7e0931b737e3815f33f7d8cd40e4da5c11cd3ed025ac0a4f031f3eee98e64d59052",
            "023dceedd6629e541e41aea61e0a558a3e7c7a515491812666d1644c00bd1a224142813b0a6a7cddc87a188c80735a36",
        ),
        (
            "7a89dc30fcf0375d465c763730219643188207ed810c25c7487dd355f3c927670b03f3638dcab9b1ea18f24734c625a0",
            "9c789b2619581723ffa0f23f883dc9783d2bfd7ea342a81c7ab76d5342f1fd380aed2ccacd95f353c45ef332b0306454",
        ),
        (
            "9cad88e8af94899f3622d92621d139d0c4797342c66f1628950438c94469ae6eb101889bbd7c024d9d4e16f1b73a9e81",
            "3b56eadf92b5c482c56447cd4c584f21da2c026276aa1dd32145e8682f6f6001b57558844d8537749a38e8471407440a",
        ),
        (
            "f40a76ad903529d20b50478f2ad63cbb9f903db22b50e280797d34fe678f8f7fe67879b303934a2b2708229169fed8e9",
            "fd0651154d9cd8d03a9b9dadfbef6a1e3e9a3e7ee4c878dbd25517e4ce6e1240af24d5e22bec9cca405727414d526fe7",
        ),
        (
            "e9ef86d399153b2ed4fcf23ecee962510d08e8be4709cf99140526a72a0d68e7aea130702aa745d191b85ce982b42f0d",
            "8852111c0c6d61922d95b3ed50d5ad540c7cb9bad00b31a9fb2cdce024d38d591f1af51ad09a4ad9abc3132c32b3e630",
        ),
        (
            "d06b12e86a617aebcb9720d8709928377b1ec1a046d23f532e34e8fa2bebd2ce22a4c01728d697f206ae39b20ef95671",
            "465a83e1940f1ad87e06786b48a7bc87eb2c8386a2b92de241ce29ad3c9f018b4c9b48061d7d888f765ddea5fe5c03ed",
        ),
        (
            "930ec6de2c91b98871a7727c39cf13ed8b3028b78e6c796efba8ccbee82fa2ffe5284507730799e26c70d28bd53d7a21",
            "930ec6de2c91b98871a7727c39cf13ed8b3028b78e6c796efba8ccbee82fa2ffe5284507730799e26c70d28bd53d7a21",
        ),
        (
            "ee1e0d5f11210a73743e5ed83cd6cbf7dddc1fa4125bb405920d5f74e8e474adae93c1ea73a5e61ffe2fa0d1ce575927",
            "9a6241d0df634e23cbf82ce4db25c78e38e5998d3de7682e9d9865766d6fe3dfb8cb1b919670447658dc09f34c7fe1fd",
        ),
        (
            "4445a9c87866adeb408ab97b7d65acfab56d3f3d00c74e4dfa44efa3e57e4204e306099e340b333cbf7e1fe5aa1e019f",
            "49b6e5369a66895c8e64a6cf1058aad6e09425db1f5c4307d7d71f8ecb396193c74836b55703443b2c464a16da6f0133",
        ),
        (
            "c7089a72302aaeaf157b7af27fa0b0258436d8ccaa96ba66ae1ba9e601c9b62ee99c5ba1d7c71e4a2273802c2b9dc7ba",
            "c7089a72302aaeaf157b7af27fa0b0258436d8ccaa96ba66ae1ba9e601c9b62ee99c5ba1d7c71e4a2273802c2b9dc7ba",
        ),
        (
            "f0c2b6e337047c584e3dff74a6729198928b21087bbd4acef4a206e70ba7b836dd56bd2760c2bf1991eb7b80c1ee0d68",
            "afa9cb340be247e3224e435283bf0c62efbd194fccdf84ddeba4471f18c9a2a528ccfca42158b488f142c6d283b66e21",
        ),
    ];

    #[test]
    fn released_migrations_render_to_the_text_they_were_released_with() {
        let hex =
            |m: Migration| -> String { m.checksum.iter().map(|b| format!("{b:02x}")).collect() };
        for (m, (sqlite, postgres)) in MIGRATIONS.iter().zip(RELEASED) {
            assert_eq!(hex(m.migration(Backend::Sqlite)), *sqlite, "{}", m.description);
            assert_eq!(hex(m.migration(Backend::Postgres)), *postgres, "{}", m.description);
        }
    }

    #[test]
    fn every_placeholder_is_spelled_in_both_dialects() {
        for m in MIGRATIONS {
            for backend in [Backend::Sqlite, Backend::Postgres] {
                assert!(!m.sql(backend).contains("{{"), "{}", m.description);
            }
        }
        let both = |p: &str| spelling(p, Backend::Sqlite).zip(spelling(p, Backend::Postgres));
        assert_eq!(both("serial key"), Some(("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY")));
        assert_eq!(both("no such thing"), None);
    }
}
