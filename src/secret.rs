//! Secrets: bearer tokens (generated, hashed, compared in constant time) and secret strings that
//! never print.

use std::fmt;

use rand::RngExt;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every token starts with this, so secret scanners (and people) recognise a leaked one.
pub const TOKEN_PREFIX: &str = "dirsync_";

/// 43 characters from a 62-letter alphabet carry 43 × log2(62) ≈ 256.03 bits.
const TOKEN_RANDOM_CHARS: usize = 43;

/// How many characters of a token are kept as its hint: the prefix and four random characters,
/// enough to tell tokens apart in a list, far too few to guess the rest.
const HINT_CHARS: usize = TOKEN_PREFIX.len() + 4;

/// A string that must not end up in logs: `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***redacted***\"")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***redacted***")
    }
}

/// A new random bearer token: the prefix and 256 bits from the operating system's CSPRNG.
pub fn generate_token() -> SecretString {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_RANDOM_CHARS)
        .map(char::from)
        .collect();
    SecretString(format!("{TOKEN_PREFIX}{random}"))
}

/// The SHA-256 of a token, hex-encoded: what the store keeps and looks tokens up by. A fast hash
/// is enough here because tokens carry 256 random bits; there is nothing to brute-force.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The part of a token that may be shown again after creation.
pub fn token_hint(token: &str) -> String {
    token.chars().take(HINT_CHARS).collect()
}

/// Compares two secrets without the time taken depending on where they first differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_prefix_and_256_bits() {
        let token = generate_token();
        let random = token
            .expose()
            .strip_prefix(TOKEN_PREFIX)
            .unwrap_or_default();
        assert_eq!(random.len(), TOKEN_RANDOM_CHARS);
        assert!(random.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!((random.len() as f64) * 62f64.log2() >= 256.0);
    }

    #[test]
    fn two_tokens_differ() {
        assert_ne!(generate_token(), generate_token());
    }

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = SecretString::new("hunter2".into());
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
