//! A resource's attributes as the IdP sent them, after the SCIM layer validated and normalised
//! them: canonical attribute names, extension attributes under their schema URN.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest value, in bytes (UTF-8, also once lower-cased), of an attribute the store indexes
/// (userName, externalId, displayName, the primary email). PostgreSQL refuses an index entry
/// over about 2.7 KB, and no IdP sends identifiers anywhere near this long; refusing them here
/// keeps both databases taking the same resources.
pub const MAX_INDEXED_BYTES: usize = 1024;

/// Checks an indexed attribute's value against [`MAX_INDEXED_BYTES`].
pub fn indexed<'a>(attribute: &str, value: &'a str) -> Result<&'a str, super::DomainError> {
    // Lower-casing can lengthen non-ASCII text (the key the index holds); ASCII stays as long.
    let bytes = match value.is_ascii() {
        true => value.len(),
        false => value.len().max(value.to_lowercase().len()),
    };
    if bytes > MAX_INDEXED_BYTES {
        return Err(super::DomainError::Invalid(format!(
            "{attribute} is {bytes} bytes long; it is indexed, and may have at most \
             {MAX_INDEXED_BYTES}"
        )));
    }
    Ok(value)
}

/// The attributes of a User or Group, minus what the server manages (`id`, `meta`) or derives
/// (`groups`, `members`). Stored whole, so that what an IdP wrote is what it reads back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Document(Map<String, Value>);

impl Document {
    /// Wraps attributes the SCIM layer has already validated.
    pub fn new(attributes: Map<String, Value>) -> Self {
        Self(attributes)
    }

    /// The value of a top-level attribute.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The value of a top-level attribute when it is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// All attributes.
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.0
    }

    /// All attributes, by value.
    pub fn into_attributes(self) -> Map<String, Value> {
        self.0
    }
}
