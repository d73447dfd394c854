//! The SCIM 2.0 wire model (RFC 7643, RFC 7644): schemas, resources, filters, list responses and
//! errors. Pure: no HTTP, no database.

pub mod dialect;
pub mod discovery;
pub mod element_filter;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;
pub mod validate;

pub use error::{ScimError, ScimType};
