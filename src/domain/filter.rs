//! The query AST a SCIM filter (RFC 7644 §3.4.2.2) parses into. The SCIM layer builds it, with
//! every attribute already resolved against the schema; the store turns it into SQL.

/// The type of the values an attribute holds (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A string, compared case-insensitively unless the attribute is `caseExact`.
    String,
    /// true or false.
    Boolean,
    /// A number with a fraction.
    Decimal,
    /// A whole number.
    Integer,
    /// An xsd:dateTime, compared as an instant.
    DateTime,
    /// A URI.
    Reference,
    /// Base64 data.
    Binary,
    /// Has sub-attributes.
    Complex,
}

/// An attribute named in a filter, resolved: its canonical name, where it lives, and how it
/// compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrRef {
    /// The schema URN of an extension attribute, `None` for core attributes.
    pub extension: Option<String>,
    /// The canonical top-level attribute name ("userName", "emails", "meta").
    pub name: String,
    /// The canonical sub-attribute name ("value" in `emails.value`).
    pub sub: Option<String>,
    /// The type of the compared values.
    pub kind: ValueKind,
    /// Whether string comparison is case-sensitive.
    pub case_exact: bool,
    /// Whether the top-level attribute holds a list.
    pub multi_valued: bool,
}

/// A comparison operator (RFC 7644 §3.4.2.2, table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal
    Ge,
    /// less than
    Lt,
    /// less than or equal
    Le,
}

/// A literal on the right of a comparison (RFC 7644 §3.4.2.2 `compValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// "text"
    Str(String),
    /// true / false
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// null
    Null,
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both must hold.
    And(Box<Filter>, Box<Filter>),
    /// Either must hold.
    Or(Box<Filter>, Box<Filter>),
    /// Must not hold.
    Not(Box<Filter>),
    /// The attribute has a non-empty value (`pr`).
    Present(AttrRef),
    /// `attr op value`.
    Compare {
        /// The attribute compared.
        attr: AttrRef,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: CompValue,
    },
    /// Always this value: what a root search (RFC 7644 §3.4.3) makes of a comparison on an
    /// attribute the resource type does not have.
    Constant(bool),
    /// `emails[type eq "work" and value co "@x"]`: one element of the multi-valued attribute
    /// must satisfy the inner filter, whose attributes name sub-attributes of that element.
    ValuePath {
        /// The multi-valued attribute.
        attr: AttrRef,
        /// The condition on one element.
        filter: Box<Filter>,
    },
}

/// `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// The attribute sorted by.
    pub attr: AttrRef,
    /// `sortOrder=descending`.
    pub descending: bool,
}
