//! Properties of what patchbay reads in a statement's text before the engine does — the lexer,
//! the commands it answers itself, the catalog statements, and named parameters — over arbitrary input, as a fuzzer
//! would try it: nothing panics, spans stay inside the text, and no parameter value can become
//! SQL of its own, as patchbay's lexer and the engine's parser both read it.

use crate::{catalog_syntax, commands, lexer, params};
use lexer::Token;
use patchbay_engine::arrow::array::{Array, StringArray};
use patchbay_engine::{Engine, Job, Limits, Statement};
use patchbay_server::statements::engine::Parameter;
use proptest::prelude::*;

/// Text made mostly of what matters to the lexer: quotes, comment marks, colons, backslashes.
fn sqlish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "([a-zA-Z_0-9]{1,6}|[ '\"`:;.,()*=\\-/\\\\\n\t]|/\\*|\\*/|--|''|``|:[a-z]{1,3}|é|\u{0}){0,40}",
    ]
}

fn parameter(name: &str, value: Option<String>, type_name: &str) -> Parameter {
    Parameter { name: name.into(), value, type_name: type_name.into() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_lexer_and_commands_take_any_text(text in sqlish()) {
        if let Ok(tokens) = lexer::tokens(&text) {
            for t in &tokens {
                prop_assert!(t.start < t.end && t.end <= text.len(), "{t:?} in {text:?}");
                prop_assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
            }
            let _ = lexer::leading_words(&tokens, 3);
            let _ = commands::parse(&tokens);
            let _ = catalog_syntax::parse(&tokens);
        }
    }

    #[test]
    fn catalog_statements_take_any_text_after_their_first_words(
        first in prop::sample::select(&["GRANT", "REVOKE", "SHOW GRANTS", "CREATE SCHEMA", "DROP DATABASE"][..]),
        rest in sqlish(),
    ) {
        if let Ok(tokens) = lexer::tokens(&format!("{first} {rest}")) {
            let _ = catalog_syntax::parse(&tokens);
        }
    }

    #[test]
    fn binding_takes_any_text_and_values(
        text in sqlish(),
        value in proptest::option::of(any::<String>()),
        type_name in prop_oneof![Just("STRING".to_owned()), Just("INT".to_owned()), any::<String>()],
    ) {
        let bound = params::bind(&text, &[parameter("a", value, &type_name)]);
        if let Ok(bound) = bound {
            // What binding writes lexes as the original did, parameters aside.
            prop_assert!(lexer::tokens(&bound).is_ok(), "{text:?} bound to {bound:?}");
        }
    }

    /// A string value, whatever it holds, is one string literal to patchbay's lexer and to the
    /// engine's parser: the statement around it reads no table it did not name.
    #[test]
    fn a_string_value_stays_one_literal(value in sqlish()) {
        let bound = params::bind(
            "SELECT :v AS v",
            &[parameter("v", Some(value.clone()), "STRING")],
        )
        .expect("a string parameter binds");
        let tokens: Vec<Token> = lexer::tokens(&bound)
            .expect("bound text lexes")
            .into_iter()
            .map(|s| s.token)
            .collect();
        prop_assert_eq!(
            tokens,
            vec![
                Token::Word("SELECT".into()),
                Token::Str(value.clone()),
                Token::Word("AS".into()),
                Token::Word("v".into()),
            ]
        );
        let statement = Statement::parse(&bound).expect("the engine parses it");
        prop_assert!(statement.objects("c", "s").expect("names").is_empty(), "{bound}");
    }

    /// Typed values too: whatever the value, the engine sees a cast of one literal.
    #[test]
    fn a_typed_value_reads_no_table(
        value in sqlish(),
        type_name in proptest::sample::select(vec!["INT", "DOUBLE", "DATE", "DECIMAL(10,2)", "BOOLEAN"]),
    ) {
        let bound = params::bind(
            "SELECT :v AS v",
            &[parameter("v", Some(value), type_name)],
        )
        .expect("a typed parameter binds");
        let statement = Statement::parse(&bound).expect("the engine parses it");
        prop_assert!(statement.objects("c", "s").expect("names").is_empty(), "{bound}");
    }
}

/// The engine itself returns a bound string value unchanged: quotes, backslashes and comment
/// marks included.
#[test]
fn the_engine_returns_string_values_unchanged() {
    let root = tempfile::tempdir().expect("a directory");
    let url = url::Url::from_directory_path(root.path()).expect("a directory URL");
    let engine = Engine::new(url, Limits::default()).expect("an engine");
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    runner
        .run(&sqlish(), |value| {
            let bound =
                params::bind("SELECT :v AS v", &[parameter("v", Some(value.clone()), "STRING")])
                    .expect("binds");
            let statement = Statement::parse(&bound).expect("parses");
            let output = runtime
                .block_on(engine.run(&Job {
                    user: String::new(),
                    statement,
                    catalog: "c".into(),
                    schema: "s".into(),
                    bindings: Vec::new(),
                    new_table_id: None,
                }))
                .expect("runs");
            let column = output.batches[0]
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|a| (a.len(), a.value(0).to_owned()));
            prop_assert_eq!(column, Some((1, value)));
            Ok(())
        })
        .expect("every value comes back as it went in");
}
