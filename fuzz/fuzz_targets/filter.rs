//! The filter parser (RFC 7644 §3.4.2.2) and the attribute-path parser: any text either parses
//! or is refused with an error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dirsync::scim::filter::parse(text);
        let _ = dirsync::scim::filter::parse_path(text);
    }
});
