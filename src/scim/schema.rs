//! The schemas dirsync implements, as data (RFC 7643 §4 and §8.7): the one source for
//! validation, filtering, PATCH paths and the `/Schemas` discovery endpoint.

use crate::domain::filter::ValueKind;

/// URN of the core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// URN of the Enterprise User extension.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// URN of the core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Whether and how an attribute can be changed (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the server only.
    ReadOnly,
    /// Freely written.
    ReadWrite,
    /// Written once, at creation (or while unset).
    Immutable,
    /// Written, never returned.
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Always, even when excluded.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    Default,
    /// Only when asked for with `attributes`.
    Request,
}

/// How unique an attribute's values are (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// No rule.
    None,
    /// Unique within the tenant.
    Server,
    /// Unique everywhere.
    Global,
}

/// One attribute of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    /// Canonical name; matched case-insensitively.
    pub name: &'static str,
    /// Value type.
    pub kind: ValueKind,
    /// Holds a list.
    pub multi_valued: bool,
    /// For `/Schemas`.
    pub description: &'static str,
    /// Must be present.
    pub required: bool,
    /// Strings compare case-sensitively.
    pub case_exact: bool,
    /// Who may change it.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// Uniqueness rule.
    pub uniqueness: Uniqueness,
    /// Suggested values (e.g. "work", "home").
    pub canonical_values: &'static [&'static str],
    /// For references: what they point at.
    pub reference_types: &'static [&'static str],
    /// For complex attributes.
    pub sub_attributes: &'static [Attribute],
}

impl Attribute {
    const fn new(name: &'static str, kind: ValueKind, description: &'static str) -> Self {
        Self {
            name,
            kind,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
        }
    }
    const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, ValueKind::String, description)
    }
    const fn boolean(name: &'static str, description: &'static str) -> Self {
        Self::new(name, ValueKind::Boolean, description)
    }
    const fn reference(
        name: &'static str,
        types: &'static [&'static str],
        description: &'static str,
    ) -> Self {
        let mut a = Self::new(name, ValueKind::Reference, description);
        a.reference_types = types;
        a.case_exact = true;
        a
    }
    const fn complex(
        name: &'static str,
        subs: &'static [Attribute],
        description: &'static str,
    ) -> Self {
        let mut a = Self::new(name, ValueKind::Complex, description);
        a.sub_attributes = subs;
        a
    }
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }
    const fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }
    const fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    /// The sub-attribute of that name, matched case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema: its URN and attributes.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The URN.
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// For `/Schemas`.
    pub description: &'static str,
    /// Top-level attributes.
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// The attribute of that name, matched case-insensitively (RFC 7643 §2.1).
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// `value`, `display`, `type`, `primary`: the sub-attributes shared by most multi-valued
/// attributes (RFC 7643 §2.4).
macro_rules! multi_valued_subs {
    ($value:expr, $types:expr) => {
        &[
            $value,
            Attribute::string(
                "display",
                "A human-readable name, primarily used for display purposes.",
            ),
            Attribute::string("type", "A label indicating the attribute's function.")
                .canonical($types),
            Attribute::boolean(
                "primary",
                "Indicates the 'primary' or preferred attribute value for this attribute.",
            ),
        ]
    };
}

const NAME_SUBS: &[Attribute] = &[
    Attribute::string("formatted", "The full name, formatted for display."),
    Attribute::string("familyName", "The family name of the User."),
    Attribute::string("givenName", "The given name of the User."),
    Attribute::string("middleName", "The middle name(s) of the User."),
    Attribute::string("honorificPrefix", "The honorific prefix(es) of the User."),
    Attribute::string("honorificSuffix", "The honorific suffix(es) of the User."),
];

const ADDRESS_SUBS: &[Attribute] = &[
    Attribute::string(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    Attribute::string("streetAddress", "The full street address component."),
    Attribute::string("locality", "The city or locality component."),
    Attribute::string("region", "The state or region component."),
    Attribute::string("postalCode", "The zip code or postal code component."),
    Attribute::string("country", "The country name component."),
    Attribute::string("type", "A label indicating the attribute's function.")
        .canonical(&["work", "home", "other"]),
    Attribute::boolean("primary", "Indicates the 'primary' or preferred address."),
];

const USER_GROUP_SUBS: &[Attribute] = &[
    Attribute::string("value", "The identifier of the User's group.")
        .mutability(Mutability::ReadOnly),
    Attribute::reference(
        "$ref",
        &["User", "Group"],
        "The URI of the corresponding 'Group' resource.",
    )
    .mutability(Mutability::ReadOnly),
    Attribute::string("display", "A human-readable name of the group.")
        .mutability(Mutability::ReadOnly),
    Attribute::string("type", "How the membership was derived.")
        .canonical(&["direct", "indirect"])
        .mutability(Mutability::ReadOnly),
];

const USER_ATTRIBUTES: &[Attribute] = &[
    Attribute::string(
        "userName",
        "Unique identifier for the User, used to authenticate.",
    )
    .required()
    .unique(),
    Attribute::complex("name", NAME_SUBS, "The components of the user's real name."),
    Attribute::string(
        "displayName",
        "The name of the User, suitable for display to end-users.",
    ),
    Attribute::string(
        "nickName",
        "The casual way to address the user in real life.",
    ),
    Attribute::reference(
        "profileUrl",
        &["external"],
        "A fully qualified URL pointing to a page representing the User's online profile.",
    ),
    Attribute::string("title", "The user's title, such as \"Vice President\"."),
    Attribute::string(
        "userType",
        "Identifies the relationship between the organization and the user.",
    ),
    Attribute::string(
        "preferredLanguage",
        "The User's preferred written or spoken language.",
    ),
    Attribute::string(
        "locale",
        "The User's default location for localizing items.",
    ),
    Attribute::string(
        "timezone",
        "The User's time zone in the 'Olson' time zone database format.",
    ),
    Attribute::boolean("active", "The User's administrative status."),
    Attribute::string(
        "password",
        "The User's cleartext password; never returned, never stored.",
    )
    .case_exact()
    .mutability(Mutability::WriteOnly)
    .returned(Returned::Never),
    Attribute::complex(
        "emails",
        multi_valued_subs!(
            Attribute::string("value", "Email address for the User."),
            &["work", "home", "other"]
        ),
        "Email addresses for the user.",
    )
    .multi(),
    Attribute::complex(
        "phoneNumbers",
        multi_valued_subs!(
            Attribute::string("value", "Phone number of the User."),
            &["work", "home", "mobile", "fax", "pager", "other"]
        ),
        "Phone numbers for the User.",
    )
    .multi(),
    Attribute::complex(
        "ims",
        multi_valued_subs!(
            Attribute::string("value", "Instant messaging address for the User."),
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
        ),
        "Instant messaging addresses for the User.",
    )
    .multi(),
    Attribute::complex(
        "photos",
        multi_valued_subs!(
            Attribute::reference("value", &["external"], "URL of a photo of the User."),
            &["photo", "thumbnail"]
        ),
        "URLs of photos of the User.",
    )
    .multi(),
    Attribute::complex(
        "addresses",
        ADDRESS_SUBS,
        "A physical mailing address for this User.",
    )
    .multi(),
    Attribute::complex(
        "groups",
        USER_GROUP_SUBS,
        "A list of groups to which the user belongs.",
    )
    .multi()
    .mutability(Mutability::ReadOnly),
    Attribute::complex(
        "entitlements",
        multi_valued_subs!(
            Attribute::string("value", "The value of an entitlement."),
            &[]
        ),
        "A list of entitlements for the User.",
    )
    .multi(),
    Attribute::complex(
        "roles",
        multi_valued_subs!(Attribute::string("value", "The value of a role."), &[]),
        "A list of roles for the User.",
    )
    .multi(),
    Attribute::complex(
        "x509Certificates",
        multi_valued_subs!(
            Attribute::new(
                "value",
                ValueKind::Binary,
                "The value of an X.509 certificate."
            ),
            &[]
        ),
        "A list of certificates issued to the User.",
    )
    .multi(),
];

const MANAGER_SUBS: &[Attribute] = &[
    Attribute::string(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    )
    .case_exact(),
    Attribute::reference(
        "$ref",
        &["User"],
        "The URI of the SCIM resource representing the User's manager.",
    ),
    Attribute::string("displayName", "The displayName of the User's manager.")
        .mutability(Mutability::ReadOnly),
];

const ENTERPRISE_ATTRIBUTES: &[Attribute] = &[
    Attribute::string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    Attribute::string("costCenter", "Identifies the name of a cost center."),
    Attribute::string("organization", "Identifies the name of an organization."),
    Attribute::string("division", "Identifies the name of a division."),
    Attribute::string("department", "Identifies the name of a department."),
    Attribute::complex("manager", MANAGER_SUBS, "The User's manager."),
];

const MEMBER_SUBS: &[Attribute] = &[
    Attribute::string("value", "Identifier of the member of this Group.")
        .case_exact()
        .mutability(Mutability::Immutable),
    Attribute::reference(
        "$ref",
        &["User", "Group"],
        "The URI corresponding to a SCIM resource that is a member of this Group.",
    )
    .mutability(Mutability::Immutable),
    Attribute::string(
        "type",
        "A label indicating the type of resource, e.g. 'User' or 'Group'.",
    )
    .canonical(&["User", "Group"])
    .mutability(Mutability::Immutable),
    Attribute::string(
        "display",
        "The member's displayName (a user's userName when it has none); derived by the server, \
         returned when asked for with attributes=members.display.",
    )
    .mutability(Mutability::ReadOnly)
    .returned(Returned::Request),
];

const GROUP_ATTRIBUTES: &[Attribute] = &[
    Attribute::string("displayName", "A human-readable name for the Group.").required(),
    Attribute::complex("members", MEMBER_SUBS, "A list of members of the Group.").multi(),
];

/// The core User schema.
pub const USER: Schema = Schema {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

/// The Enterprise User extension.
pub const ENTERPRISE_USER: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

/// The core Group schema.
pub const GROUP: Schema = Schema {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

const META_SUBS: &[Attribute] = &[
    Attribute::string(
        "resourceType",
        "The name of the resource type of the resource.",
    )
    .case_exact()
    .mutability(Mutability::ReadOnly),
    Attribute::new(
        "created",
        ValueKind::DateTime,
        "When the resource was added.",
    )
    .mutability(Mutability::ReadOnly),
    Attribute::new(
        "lastModified",
        ValueKind::DateTime,
        "When the resource was last changed.",
    )
    .mutability(Mutability::ReadOnly),
    Attribute::reference("location", &["uri"], "The URI of the resource.")
        .mutability(Mutability::ReadOnly),
    Attribute::string("version", "The version (ETag) of the resource.")
        .case_exact()
        .mutability(Mutability::ReadOnly),
];

/// The attributes every resource has (RFC 7643 §3.1), outside any schema's attribute list.
pub const COMMON_ATTRIBUTES: &[Attribute] = &[
    Attribute::string(
        "id",
        "Unique identifier of the resource, assigned by the server.",
    )
    .case_exact()
    .mutability(Mutability::ReadOnly)
    .returned(Returned::Always)
    .unique(),
    Attribute::string(
        "externalId",
        "Identifier of the resource as defined by the provisioning client.",
    )
    .case_exact(),
    Attribute::complex("meta", META_SUBS, "Resource metadata.").mutability(Mutability::ReadOnly),
];

/// A resource type: its endpoint, core schema and extensions.
#[derive(Debug, Clone, Copy)]
pub struct ResourceType {
    /// "User" or "Group".
    pub name: &'static str,
    /// Path below the base URL.
    pub endpoint: &'static str,
    /// For `/ResourceTypes`.
    pub description: &'static str,
    /// The core schema.
    pub schema: Schema,
    /// Extension schemas.
    pub extensions: &'static [Schema],
}

impl ResourceType {
    /// Every schema of the type, core first.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        std::iter::once(&self.schema).chain(self.extensions.iter())
    }
}

/// Users.
pub const USER_TYPE: ResourceType = ResourceType {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: USER,
    extensions: &[ENTERPRISE_USER],
};

/// Groups.
pub const GROUP_TYPE: ResourceType = ResourceType {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: GROUP,
    extensions: &[],
};
