//! The throwaway slapd the LDAP tests run against lives beside the bench that also needs one.
pub use dirsync::bench::slapd::{ROOT_DN, ROOT_PW, SUFFIX, Slapd};
