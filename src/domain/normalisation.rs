//! The names of the normalisations IdP dialects need (see `scim::dialect` for what each does
//! and which IdP needs it); tenant settings turn them off by name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::DomainError;

/// One named normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalisation {
    /// PATCH `op` in any case (`"Replace"`, Entra; RFC 7644 §3.5.2 spells them lower-case).
    OpsAnyCase,
    /// Booleans sent as strings, `"False"` or `"true"` (Entra).
    StringBooleans,
    /// Pathless PATCH values whose keys are paths: `"name.givenName"`, or
    /// `"urn:…:enterprise:2.0:User:department"` (Entra).
    PathlessValuePaths,
    /// A filtered PATCH path that matches no value creates it: `emails[type eq "work"].value`
    /// on a user without a work email adds `{"type": "work", "value": …}` (Entra; RFC 7644 says
    /// `noTarget`).
    FilteredPathCreates,
    /// A single-valued complex attribute sent as its bare value, `"manager": "id"`, or as a
    /// one-element list `[{"value": "id"}]`, becomes `{"value": "id"}` (Entra).
    ManagerAsString,
    /// A value filter on a single-valued complex attribute, `manager[value eq "id"]`, selects
    /// it when it matches (Entra's manager removal).
    FilterOnSingleValued,
    /// A pathless PATCH value carrying the resource's own `id` (Okta Push Groups renames):
    /// ignored when it is the id of the resource patched.
    PatchIdEcho,
    /// Empty-string values are treated as unassigned (OneLogin templates with empty fields).
    DropEmptyValues,
    /// Attributes no schema defines are dropped instead of refused (OneLogin templates with
    /// custom fields).
    DropUnknownAttributes,
}

impl Normalisation {
    /// Every normalisation, in the order listings show them.
    pub const ALL: [Normalisation; 9] = [
        Normalisation::OpsAnyCase,
        Normalisation::StringBooleans,
        Normalisation::PathlessValuePaths,
        Normalisation::FilteredPathCreates,
        Normalisation::ManagerAsString,
        Normalisation::FilterOnSingleValued,
        Normalisation::PatchIdEcho,
        Normalisation::DropEmptyValues,
        Normalisation::DropUnknownAttributes,
    ];

    /// The name used in settings, logs and the admin API.
    pub fn name(self) -> &'static str {
        match self {
            Normalisation::OpsAnyCase => "ops_any_case",
            Normalisation::StringBooleans => "string_booleans",
            Normalisation::PathlessValuePaths => "pathless_value_paths",
            Normalisation::FilteredPathCreates => "filtered_path_creates",
            Normalisation::ManagerAsString => "manager_as_string",
            Normalisation::FilterOnSingleValued => "filter_on_single_valued",
            Normalisation::PatchIdEcho => "patch_id_echo",
            Normalisation::DropEmptyValues => "drop_empty_values",
            Normalisation::DropUnknownAttributes => "drop_unknown_attributes",
        }
    }

    /// Its bit in a set of normalisations.
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Normalisation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Normalisation {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Normalisation::ALL
            .into_iter()
            .find(|n| n.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Normalisation::ALL.iter().map(|n| n.name()).collect();
                DomainError::Invalid(format!(
                    "unknown normalisation {s:?}: expected one of {}",
                    names.join(", ")
                ))
            })
    }
}
