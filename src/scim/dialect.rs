//! IdP dialects: the named normalisations that turn what a real identity provider sends into the
//! canonical model (see `shared/research/idp-quirks.md`). Each tenant's IdP kind switches on a
//! set of them; a tenant can turn any of them off. `generic` has none: it is RFC-strict where
//! RFC 7644 is clear.
//!
//! The SCIM layer records which normalisations a request needed in a [`Quirks`]; the API layer
//! logs and counts them, so an operator can see what each IdP really sends.

use crate::domain::IdpKind;
pub use crate::domain::Normalisation;

/// The normalisations in force for a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dialect(u32);

impl Dialect {
    /// RFC-strict: no normalisation.
    pub const STRICT: Dialect = Dialect(0);

    /// What an IdP kind needs, as the research note found it.
    pub fn for_kind(kind: IdpKind) -> Dialect {
        use Normalisation as N;
        let set: &[Normalisation] = match kind {
            IdpKind::Generic => &[],
            IdpKind::Entra => &[
                N::OpsAnyCase,
                N::StringBooleans,
                N::PathlessValuePaths,
                N::FilteredPathCreates,
                N::ManagerAsString,
                N::FilterOnSingleValued,
            ],
            IdpKind::Okta => &[N::OpsAnyCase, N::PatchIdEcho],
            IdpKind::Onelogin => &[N::OpsAnyCase, N::DropEmptyValues, N::DropUnknownAttributes],
            IdpKind::Jumpcloud => &[N::OpsAnyCase, N::StringBooleans],
        };
        Dialect(set.iter().fold(0, |bits, n| bits | n.bit()))
    }

    /// This dialect without the normalisations a tenant turned off.
    pub fn without(self, disabled: &[Normalisation]) -> Dialect {
        Dialect(disabled.iter().fold(self.0, |bits, n| bits & !n.bit()))
    }

    /// Whether a normalisation is on.
    pub fn has(self, normalisation: Normalisation) -> bool {
        self.0 & normalisation.bit() != 0
    }
}

/// One request's view of its dialect: which normalisations may fire, and which did.
#[derive(Debug, Clone, Default)]
pub struct Quirks {
    dialect: Dialect,
    fired: Vec<Normalisation>,
}

impl Quirks {
    /// For a request of a tenant with this dialect.
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            fired: Vec::new(),
        }
    }

    /// RFC-strict.
    pub fn strict() -> Self {
        Self::new(Dialect::STRICT)
    }

    /// Whether the normalisation is on; when it is, it is recorded as having fired.
    pub fn apply(&mut self, normalisation: Normalisation) -> bool {
        let on = self.dialect.has(normalisation);
        if on && !self.fired.contains(&normalisation) {
            self.fired.push(normalisation);
        }
        on
    }

    /// The normalisations that fired, each once.
    pub fn fired(&self) -> &[Normalisation] {
        &self.fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_is_strict_and_entra_gets_its_normalisations() {
        assert_eq!(Dialect::for_kind(IdpKind::Generic), Dialect::STRICT);
        let entra = Dialect::for_kind(IdpKind::Entra);
        assert!(entra.has(Normalisation::StringBooleans));
        assert!(!entra.has(Normalisation::PatchIdEcho));
        assert!(
            !entra
                .without(&[Normalisation::StringBooleans])
                .has(Normalisation::StringBooleans)
        );
    }

    #[test]
    fn quirks_record_what_fired_once() {
        let mut quirks = Quirks::new(Dialect::for_kind(IdpKind::Okta));
        assert!(quirks.apply(Normalisation::PatchIdEcho));
        assert!(quirks.apply(Normalisation::PatchIdEcho));
        assert!(!quirks.apply(Normalisation::StringBooleans));
        assert_eq!(quirks.fired(), [Normalisation::PatchIdEcho]);
    }

    #[test]
    fn names_round_trip() {
        for n in Normalisation::ALL {
            assert_eq!(n.name().parse::<Normalisation>().ok(), Some(n));
        }
        assert!("nope".parse::<Normalisation>().is_err());
    }
}
