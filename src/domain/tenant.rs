//! Tenants: one tenant is one IdP connection with its own tokens, users and groups.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{DomainError, TenantId};

/// A tenant's name: what operators type on the command line. Lower-case letters, digits and
/// dashes, starting with a letter or digit, at most 63 characters (a DNS label), so it is safe in
/// URLs, log lines and LDAP DNs alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantName(String);

impl TenantName {
    /// Checks a proposed tenant name.
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let valid_start = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if name.len() > 63 || !valid_chars || !valid_start {
            return Err(DomainError::Invalid(format!(
                "tenant name {name:?} is not valid: use 1 to 63 lower-case letters, digits and \
                 dashes, starting with a letter or digit (for example \"acme-entra\")"
            )));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl TryFrom<String> for TenantName {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantName> for String {
    fn from(value: TenantName) -> Self {
        value.0
    }
}

/// Which identity provider a tenant's connection comes from; it selects that IdP's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdpKind {
    /// Any SCIM 2.0 client; RFC-strict.
    #[default]
    Generic,
    /// Microsoft Entra ID.
    Entra,
    /// Okta.
    Okta,
    /// OneLogin.
    Onelogin,
    /// JumpCloud.
    Jumpcloud,
}

impl IdpKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [IdpKind; 5] = [
        IdpKind::Generic,
        IdpKind::Entra,
        IdpKind::Okta,
        IdpKind::Onelogin,
        IdpKind::Jumpcloud,
    ];

    /// The kind's name as stored and as typed on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            IdpKind::Generic => "generic",
            IdpKind::Entra => "entra",
            IdpKind::Okta => "okta",
            IdpKind::Onelogin => "onelogin",
            IdpKind::Jumpcloud => "jumpcloud",
        }
    }
}

impl fmt::Display for IdpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for IdpKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdpKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                DomainError::Invalid(format!(
                    "unknown IdP kind {s:?}: expected one of generic, entra, okta, onelogin, jumpcloud"
                ))
            })
    }
}

/// How a group PATCH is answered (RFC 7644 §3.5.2 allows either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupPatchResponse {
    /// 200 with the group, honouring `attributes`/`excludedAttributes`.
    #[default]
    Resource,
    /// 204 No Content: for very large groups, whose member list is expensive to send back.
    NoContent,
}

/// What a member id that is not a user or group of the tenant does to a group write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownMembers {
    /// Skip it, record it in the change log, apply the rest.
    #[default]
    Skip,
    /// Refuse the whole request with 400.
    Reject,
}

/// A request quota: a steady rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

impl FromStr for Quota {
    type Err = DomainError;
    /// `"50/100"`: 50 per second, bursts of 100.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            DomainError::Invalid(format!(
                "{s:?} is not a quota: write requests per second and the burst, like \"50/100\""
            ))
        };
        let (rate, burst) = s.split_once('/').ok_or_else(invalid)?;
        let quota = Quota {
            per_second: rate.trim().parse().map_err(|_| invalid())?,
            burst: burst.trim().parse().map_err(|_| invalid())?,
        };
        if quota.per_second == 0 || quota.burst < quota.per_second {
            return Err(invalid());
        }
        Ok(quota)
    }
}

/// A tenant's protocol settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// How group PATCH answers.
    pub group_patch_response: GroupPatchResponse,
    /// What unknown member ids do.
    pub unknown_members: UnknownMembers,
    /// Normalisations of the IdP's dialect this tenant turned off.
    pub disabled_normalisations: Vec<super::Normalisation>,
    /// The tenant's request quota; the configured default when `None`.
    pub quota: Option<Quota>,
    /// An operator paused the tenant: its SCIM requests answer 503 until resumed.
    pub paused: bool,
}

impl TenantSettings {
    /// The settings a new tenant of this kind starts with: Entra is answered 204 on group
    /// PATCH, as its documentation asks ("returning a body with a list of all the members isn't
    /// advisable").
    pub fn for_kind(kind: IdpKind) -> Self {
        Self {
            group_patch_response: match kind {
                IdpKind::Entra => GroupPatchResponse::NoContent,
                _ => GroupPatchResponse::Resource,
            },
            ..Self::default()
        }
    }
}

impl FromStr for GroupPatchResponse {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "resource" | "200" => Ok(GroupPatchResponse::Resource),
            "no_content" | "204" => Ok(GroupPatchResponse::NoContent),
            _ => Err(DomainError::Invalid(format!(
                "{s:?} is not a group PATCH response: use \"resource\" (200 with the group) or \"no-content\" (204)"
            ))),
        }
    }
}

impl FromStr for UnknownMembers {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip" => Ok(UnknownMembers::Skip),
            "reject" => Ok(UnknownMembers::Reject),
            _ => Err(DomainError::Invalid(format!(
                "{s:?} is not an unknown-members policy: use \"skip\" or \"reject\""
            ))),
        }
    }
}

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// Stable identifier.
    pub id: TenantId,
    /// Unique, operator-chosen name.
    pub name: TenantName,
    /// The IdP this tenant's connection comes from.
    pub idp_kind: IdpKind,
    /// When the tenant was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Protocol settings.
    pub settings: TenantSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_accept_dns_labels() {
        for name in ["acme", "acme-entra", "0day", "a"] {
            assert!(TenantName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn tenant_names_refuse_spaces_capitals_and_leading_dashes() {
        for name in [
            "",
            "Acme",
            "acme corp",
            "-acme",
            "acme_entra",
            &"a".repeat(64),
        ] {
            assert!(TenantName::parse(name).is_err(), "{name}");
        }
    }

    #[test]
    fn quotas_parse_as_rate_slash_burst() {
        assert_eq!(
            "50/100".parse::<Quota>().ok(),
            Some(Quota {
                per_second: 50,
                burst: 100
            })
        );
        for bad in ["50", "0/10", "10/5", "a/b", ""] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }

    #[test]
    fn idp_kinds_parse_case_insensitively_and_round_trip() {
        for kind in IdpKind::ALL {
            assert_eq!(
                kind.as_str().to_uppercase().parse::<IdpKind>().ok(),
                Some(kind)
            );
        }
        assert!("azure".parse::<IdpKind>().is_err());
    }
}
