//! The PATCH engine (RFC 7644 §3.5.2): any JSON body, in the strict dialect and in Entra's,
//! parsed and applied to a user and to a group. Errors are fine; panics and hangs are not.
#![no_main]

use dirsync::domain::IdpKind;
use dirsync::domain::document::Document;
use dirsync::scim::dialect::{Dialect, Quirks};
use dirsync::scim::patch::parse_patch;
use dirsync::scim::schema::{GROUP_TYPE, USER_TYPE};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let user = json!({
        "userName": "alice@example.com",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "active": true
    });
    let group = json!({"displayName": "Staff"});
    let document = |value: Value| match value {
        Value::Object(map) => Document::new(map),
        _ => Document::default(),
    };
    for dialect in [Dialect::STRICT, Dialect::for_kind(IdpKind::Entra)] {
        let mut quirks = Quirks::new(dialect);
        if let Ok(request) = parse_patch(body.clone(), &mut quirks) {
            let _ = request.apply_to_user(&USER_TYPE, "u1", &document(user.clone()), &mut quirks);
            let _ = request.apply_to_group(&GROUP_TYPE, "g1", &document(group.clone()), &mut quirks);
        }
    }
});
