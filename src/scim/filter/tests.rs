use super::*;

fn path(attr: &str) -> RawPath {
    RawPath {
        uri: None,
        attr: attr.into(),
        sub: None,
    }
}

fn eq(attr: &str, value: &str) -> RawFilter {
    RawFilter::Compare(path(attr), CompareOp::Eq, CompValue::Str(value.into()))
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(f) => format!("(parsed: {f:?})"),
        Err(e) => e.detail,
    }
}

#[test]
fn a_simple_equality_parses() {
    assert_eq!(
        parse(r#"userName eq "bjensen""#),
        Ok(eq("userName", "bjensen"))
    );
}

#[test]
fn operators_and_keywords_are_case_insensitive() {
    assert_eq!(parse(r#"userName EQ "x""#), Ok(eq("userName", "x")));
    assert_eq!(
        parse(r#"a Eq "1" AND b eq "2""#),
        Ok(RawFilter::And(
            Box::new(eq("a", "1")),
            Box::new(eq("b", "2"))
        ))
    );
}

#[test]
fn and_binds_tighter_than_or() {
    let parsed = parse(r#"a eq "1" or b eq "2" and c eq "3""#);
    let expected = RawFilter::Or(
        Box::new(eq("a", "1")),
        Box::new(RawFilter::And(
            Box::new(eq("b", "2")),
            Box::new(eq("c", "3")),
        )),
    );
    assert_eq!(parsed, Ok(expected));
}

#[test]
fn parentheses_and_not_group() {
    let parsed = parse(r#"not (a eq "1" or b eq "2") and c pr"#);
    let expected = RawFilter::And(
        Box::new(RawFilter::Not(Box::new(RawFilter::Or(
            Box::new(eq("a", "1")),
            Box::new(eq("b", "2")),
        )))),
        Box::new(RawFilter::Present(path("c"))),
    );
    assert_eq!(parsed, Ok(expected));
    assert!(parse(r#"not(a eq "1")"#).is_ok());
}

#[test]
fn value_paths_hold_a_filter_on_sub_attributes() {
    let parsed = parse(r#"emails[type eq "work" and value co "@example.com"]"#);
    let expected = RawFilter::ValuePath(
        path("emails"),
        Box::new(RawFilter::And(
            Box::new(eq("type", "work")),
            Box::new(RawFilter::Compare(
                path("value"),
                CompareOp::Co,
                CompValue::Str("@example.com".into()),
            )),
        )),
    );
    assert_eq!(parsed, Ok(expected));
}

#[test]
fn entras_value_path_with_a_trailing_sub_attribute_means_both_conditions() {
    let parsed = parse(r#"emails[type eq "work"].value eq "a@b.c""#);
    let expected = RawFilter::ValuePath(
        path("emails"),
        Box::new(RawFilter::And(
            Box::new(eq("type", "work")),
            Box::new(eq("value", "a@b.c")),
        )),
    );
    assert_eq!(parsed, Ok(expected));
}

#[test]
fn urn_qualified_names_split_at_the_last_colon() {
    assert_eq!(
        parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
        Ok(RawPath {
            uri: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
            attr: "manager".into(),
            sub: Some("value".into()),
        })
    );
    assert_eq!(
        parse_path("name.givenName").map(|p| p.sub),
        Ok(Some("givenName".into()))
    );
    assert_eq!(
        parse_path("members.$ref").map(|p| p.sub),
        Ok(Some("$ref".into()))
    );
}

#[test]
fn literals_of_every_type_parse() {
    let value = |text: &str| match parse(&format!("a eq {text}")) {
        Ok(RawFilter::Compare(_, _, v)) => Some(v),
        _ => None,
    };
    assert_eq!(value("true"), Some(CompValue::Bool(true)));
    assert_eq!(value("False"), Some(CompValue::Bool(false)));
    assert_eq!(value("null"), Some(CompValue::Null));
    assert_eq!(value("42"), Some(CompValue::Number(42.into())));
    assert!(matches!(value("-1.5e3"), Some(CompValue::Number(_))));
    assert_eq!(
        value(r#""say \"hi\"""#),
        Some(CompValue::Str("say \"hi\"".into()))
    );
    assert_eq!(
        value(r#""2011-05-13T04:42:34Z""#),
        Some(CompValue::Str("2011-05-13T04:42:34Z".into()))
    );
}

#[test]
fn errors_say_where_the_filter_broke() {
    assert!(error(r#"userName eq "x"#).contains("unterminated string"));
    assert!(error(r#"userName xx "x""#).contains("unknown operator \"xx\""));
    assert!(error(r#"(userName eq "x""#).contains("expected \")\""));
    assert!(error(r#"emails[type eq "work""#).contains("expected \"]\""));
    assert!(error(r#"userName eq "x" )"#).contains("character 17"));
    assert!(error("userName eq").contains("expected a value"));
    assert!(error("").contains("expected an attribute name"));
    assert!(error(r#"a eq "1" and"#).contains("expected an attribute name"));
    assert!(error(r#"not a eq "1""#).contains("after \"not\""));
    assert!(error(r#"emails[x[y eq "1"]]"#).contains("another value path"));
}

#[test]
fn nesting_and_length_are_bounded() {
    let deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
    assert!(error(&deep).contains("nested deeper"));
    let long = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LENGTH));
    assert!(error(&long).contains("longer than"));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Prints a filter in the RFC 7644 syntax, fully parenthesised.
    fn print(filter: &RawFilter) -> String {
        let path = |p: &RawPath| {
            let mut out = String::new();
            if let Some(uri) = &p.uri {
                out.push_str(uri);
                out.push(':');
            }
            out.push_str(&p.attr);
            if let Some(sub) = &p.sub {
                out.push('.');
                out.push_str(sub);
            }
            out
        };
        match filter {
            RawFilter::And(a, b) => format!("({}) and ({})", print(a), print(b)),
            RawFilter::Or(a, b) => format!("({}) or ({})", print(a), print(b)),
            RawFilter::Not(inner) => format!("not ({})", print(inner)),
            RawFilter::Present(p) => format!("{} pr", path(p)),
            RawFilter::Compare(p, op, value) => {
                let op = format!("{op:?}").to_lowercase();
                let value = match value {
                    CompValue::Str(s) => serde_json::to_string(s).unwrap_or_default(),
                    CompValue::Bool(b) => b.to_string(),
                    CompValue::Number(n) => n.to_string(),
                    CompValue::Null => "null".into(),
                };
                format!("{} {op} {value}", path(p))
            }
            RawFilter::ValuePath(p, inner) => format!("{}[{}]", path(p), print(inner)),
        }
    }

    fn raw_path() -> impl Strategy<Value = RawPath> {
        (
            proptest::option::of(Just(
                "urn:ietf:params:scim:schemas:core:2.0:User".to_owned(),
            )),
            "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
            proptest::option::of("[a-zA-Z][a-zA-Z0-9]{0,6}"),
        )
            .prop_filter("not a keyword", |(_, attr, _)| {
                !["and", "or", "not"].contains(&attr.to_lowercase().as_str())
            })
            .prop_map(|(uri, attr, sub)| RawPath { uri, attr, sub })
    }

    fn comparison() -> impl Strategy<Value = RawFilter> {
        let op = prop_oneof![
            Just(CompareOp::Eq),
            Just(CompareOp::Ne),
            Just(CompareOp::Co),
            Just(CompareOp::Sw),
            Just(CompareOp::Ew),
            Just(CompareOp::Gt),
            Just(CompareOp::Ge),
            Just(CompareOp::Lt),
            Just(CompareOp::Le),
        ];
        let value = prop_oneof![
            "\\PC{0,12}".prop_map(CompValue::Str),
            any::<bool>().prop_map(CompValue::Bool),
            any::<i32>().prop_map(|n| CompValue::Number(n.into())),
            Just(CompValue::Null),
        ];
        prop_oneof![
            (raw_path(), op, value).prop_map(|(p, op, v)| RawFilter::Compare(p, op, v)),
            raw_path().prop_map(RawFilter::Present),
        ]
    }

    fn filter() -> impl Strategy<Value = RawFilter> {
        let leaf = prop_oneof![
            3 => comparison(),
            1 => (raw_path(), comparison()).prop_map(|(mut p, inner)| {
                p.sub = None;
                RawFilter::ValuePath(p, Box::new(inner))
            }),
        ];
        leaf.prop_recursive(4, 16, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| RawFilter::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| RawFilter::Or(Box::new(a), Box::new(b))),
                inner.prop_map(|f| RawFilter::Not(Box::new(f))),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        #[test]
        fn parsing_filter_like_text_never_panics(
            text in "[a-z\\[\\]()\" .:]{0,20}( (eq|and|or|not|pr) [a-z\\[\\]()\" .:]{0,20}){0,4}"
        ) {
            let _ = parse(&text);
        }

        #[test]
        fn a_printed_filter_parses_back_to_itself(filter in filter()) {
            prop_assert_eq!(parse(&print(&filter)), Ok(filter));
        }
    }
}
