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
