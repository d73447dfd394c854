//! The resource parser (RFC 7643 §4): any JSON body read as a User and as a Group, in the strict
//! dialect and in OneLogin's (which drops empty values and unknown attributes).
#![no_main]

use dirsync::domain::IdpKind;
use dirsync::scim::dialect::{Dialect, Quirks};
use dirsync::scim::resource::{parse_group, parse_user};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for dialect in [Dialect::STRICT, Dialect::for_kind(IdpKind::Onelogin)] {
        let _ = parse_user(body.clone(), &mut Quirks::new(dialect));
        let _ = parse_group(body.clone(), &mut Quirks::new(dialect));
    }
});
