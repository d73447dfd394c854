//! The LDAP target, on ldap3: the only module that speaks LDAP.
//!
//! Reads are paged (RFC 2696 simple paged results) one container at a time, so a large
//! directory reads in bounded pages. Every operation's "already so" answer counts as converged:
//! `entryAlreadyExists` on add, `attributeOrValueExists` when adding a member, `noSuchAttribute`
//! when removing one, `noSuchObject` when deleting. That makes a second apply of the same plan
//! harmless, and a directory that rewrote member values itself (slapo-refint) agree with us.
//!
//! `groupOfNames` cannot be empty, so an empty group holds the placeholder DN: it is written
//! before the last member goes and removed after the first one arrives, and reads leave it out.

pub mod desired;
pub mod mapping;

use std::collections::{BTreeSet, HashSet};

use futures_util::{StreamExt, TryStreamExt};
use ldap3::adapters::PagedResults;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Mod, Scope, SearchEntry,
};
use tokio::sync::Mutex;

use self::mapping::{Layout, group_attributes, is_posix, parse_marker, split_dn, user_attributes};
use super::model::{Attributes, Desired, Kind, Observed, ObservedEntry, Operation};
use super::target::{Mapper, Target, TargetError, keeps};
use crate::configuration::LdapSettings;
use crate::domain::{DomainError, Group, Tenant, User};

// LDAP result codes (RFC 4511 Appendix A) that a reconciler treats specially.
const NO_SUCH_ATTRIBUTE: u32 = 16;
const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
const NO_SUCH_OBJECT: u32 = 32;
const BUSY: u32 = 51;
const UNAVAILABLE: u32 = 52;
const UNWILLING_TO_PERFORM: u32 = 53;
const ENTRY_ALREADY_EXISTS: u32 = 68;

/// Entries a narrowed run reads again at once, and how many searches it prepares at a time.
const READ_AGAIN_IN_FLIGHT: usize = 16;
const READ_AGAIN_BATCH: usize = 512;

/// How one kind of entry is read.
struct Reading {
    /// `(objectClass=…)`.
    filter: String,
    /// The attributes dirsync manages on the entries (members included for groups).
    managed: Vec<String>,
}

impl Reading {
    /// The attributes a search asks for: the managed ones and the anchor.
    fn requested(&self) -> Vec<String> {
        let mut requested = self.managed.clone();
        requested.push("entryUUID".into());
        requested
    }
}

/// The LDAP target.
#[derive(Debug)]
pub struct LdapTarget {
    settings: LdapSettings,
    /// One connection, opened on first use and dropped when it fails; ldap3 multiplexes
    /// operations over it.
    connection: Mutex<Option<Ldap>>,
    /// The next gidNumber for a posixGroup, once known.
    next_gid: Mutex<Option<u32>>,
}

impl LdapTarget {
    /// A target for these settings; it connects on first use.
    pub fn new(settings: LdapSettings) -> Self {
        Self {
            settings,
            connection: Mutex::new(None),
            next_gid: Mutex::new(None),
        }
    }

    async fn ldap(&self) -> Result<Ldap, TargetError> {
        let mut slot = self.connection.lock().await;
        if let Some(ldap) = slot.as_ref() {
            return Ok(ldap.clone());
        }
        // Several URLs are tried in order: the first that connects and binds serves the run.
        let mut failures = Vec::new();
        for url in &self.settings.urls {
            match self.connect(url).await {
                Ok(ldap) => {
                    *slot = Some(ldap.clone());
                    return Ok(ldap);
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        Err(TargetError::Unavailable(failures.join("; ")))
    }

    async fn connect(&self, url: &str) -> Result<Ldap, TargetError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.settings.timeout)
            .set_starttls(self.settings.starttls)
            .set_no_tls_verify(!self.settings.tls_verify);
        let (connection, mut ldap) = LdapConnAsync::with_settings(settings, url)
            .await
            .map_err(|e| unavailable(url, e))?;
        // The connection's driver: it ends when the connection closes.
        tokio::spawn(async move {
            if let Err(e) = connection.drive().await {
                tracing::warn!(error = %e, "LDAP connection closed");
            }
        });
        let bound = ldap
            .with_timeout(self.settings.timeout)
            .simple_bind(&self.settings.bind_dn, self.settings.bind_password.expose())
            .await
            .map_err(|e| unavailable(url, e))?;
        if bound.rc != 0 {
            return Err(TargetError::Unavailable(format!(
                "{url}: binding as {} was refused (rc {}: {})",
                self.settings.bind_dn, bound.rc, bound.text
            )));
        }
        Ok(ldap)
    }

    /// Forgets a connection that failed, so the next operation reconnects.
    async fn reset(&self) {
        *self.connection.lock().await = None;
    }

    /// Runs one LDAP operation: a connection failure drops the connection and makes the
    /// target unavailable for the rest of the run.
    async fn call<F, Fut>(&self, operation: F) -> Result<LdapResult, TargetError>
    where
        F: FnOnce(Ldap) -> Fut,
        Fut: std::future::Future<Output = Result<LdapResult, LdapError>>,
    {
        let mut ldap = self.ldap().await?;
        ldap.with_timeout(self.settings.timeout);
        match operation(ldap).await {
            Ok(result) if matches!(result.rc, BUSY | UNAVAILABLE) => {
                self.reset().await;
                Err(TargetError::Unavailable(format!(
                    "rc {}: {}",
                    result.rc, result.text
                )))
            }
            Ok(result) => Ok(result),
            Err(e) => {
                self.reset().await;
                Err(unavailable(&self.directory(), e))
            }
        }
    }

    /// Every entry of `kind` directly under `base`, read page by page and handed to `each`
    /// as it arrives (converted at once: a raw search entry is a hash map of vectors, several
    /// times the size of what a run keeps). A missing container holds nothing; any other
    /// failure is an error.
    async fn read(
        &self,
        kind: Kind,
        base: &str,
        each: &mut (dyn FnMut(ObservedEntry) + Send),
    ) -> Result<(), TargetError> {
        let reading = self.reading(kind);
        let mut ldap = self.ldap().await?;
        let started = ldap
            .with_timeout(self.settings.timeout)
            .streaming_search_with(
                PagedResults::new(self.settings.page_size as i32),
                base,
                Scope::OneLevel,
                &reading.filter,
                reading.requested(),
            )
            .await;
        let mut stream = match started {
            Ok(stream) => stream,
            Err(e) => {
                // A dead connection must not be reused by the next run.
                self.reset().await;
                return Err(unavailable(&self.directory(), e));
            }
        };
        let mut handed = 0usize;
        loop {
            match stream.next().await {
                Ok(Some(entry)) => {
                    handed += 1;
                    each(self.observed(kind, SearchEntry::construct(entry), &reading.managed))
                }
                Ok(None) => break,
                Err(e) => {
                    self.reset().await;
                    return Err(unavailable(&self.directory(), e));
                }
            }
        }
        let done = stream.finish().await;
        match done.rc {
            0 => Ok(()),
            NO_SUCH_OBJECT if handed == 0 => Ok(()),
            // Entries were handed over from a container that then vanished: what was read
            // is not the whole, and must not be planned from.
            NO_SUCH_OBJECT => Err(TargetError::Unavailable(format!(
                "{base} was removed while it was being read"
            ))),
            rc => {
                self.reset().await;
                Err(TargetError::Unavailable(format!(
                    "reading {base} failed (rc {rc}: {})",
                    done.text
                )))
            }
        }
    }

    /// How entries of `kind` are read: by their object class, with the attributes dirsync
    /// manages on them.
    fn reading(&self, kind: Kind) -> Reading {
        let (object_class, managed) = match kind {
            Kind::User => (
                self.settings
                    .user_object_classes
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "inetOrgPerson".into()),
                user_attributes(&self.settings),
            ),
            Kind::Group => {
                let mut attributes = group_attributes(&self.settings);
                attributes.push(self.settings.member_attribute.clone());
                (self.settings.group_object_class.clone(), attributes)
            }
        };
        Reading {
            filter: format!("(objectClass={object_class})"),
            managed,
        }
    }

    /// The entry of `kind` at `dn`, if there is one.
    async fn read_one(&self, kind: Kind, dn: &str) -> Result<Option<ObservedEntry>, TargetError> {
        let reading = self.reading(kind);
        let mut ldap = self.ldap().await?;
        let found = ldap
            .with_timeout(self.settings.timeout)
            .search(dn, Scope::Base, &reading.filter, reading.requested())
            .await;
        let (entries, result) = match found {
            Ok(found) => (found.0, found.1),
            Err(e) => {
                self.reset().await;
                return Err(unavailable(&self.directory(), e));
            }
        };
        match result.rc {
            0 => Ok(entries
                .into_iter()
                .next()
                .map(|entry| self.observed(kind, SearchEntry::construct(entry), &reading.managed))),
            NO_SUCH_OBJECT => Ok(None),
            rc => Err(TargetError::Unavailable(format!(
                "reading {dn} failed (rc {rc}: {})",
                result.text
            ))),
        }
    }

    fn observed(&self, kind: Kind, entry: SearchEntry, managed: &[String]) -> ObservedEntry {
        let marker = self.settings.marker_attribute.to_lowercase();
        let member_attribute = self.settings.member_attribute.to_lowercase();
        let placeholder = self.settings.placeholder_dn.to_lowercase();
        let mut attributes = Attributes::new();
        let mut members = BTreeSet::new();
        let mut anchor = String::new();
        let mut managed_id = None;
        for (name, values) in entry.attrs {
            let name = name.to_lowercase();
            if name == "entryuuid" {
                anchor = values.into_iter().next().unwrap_or_default();
                continue;
            }
            if name == member_attribute && kind == Kind::Group {
                members.extend(
                    values
                        .into_iter()
                        .filter(|v| v.to_lowercase() != placeholder),
                );
                continue;
            }
            if name == marker {
                managed_id = values.iter().find_map(|v| parse_marker(v));
            }
            if managed.contains(&name) {
                attributes.insert(name, values.into_iter().collect());
            }
        }
        ObservedEntry {
            kind,
            anchor: if anchor.is_empty() {
                entry.dn.clone()
            } else {
                anchor
            },
            location: entry.dn,
            managed_id,
            attributes,
            members,
            adoptable: false,
        }
    }

    async fn ensure_containers(&self, layout: &Layout) -> Result<(), TargetError> {
        for dn in layout.containers(&self.settings) {
            let (rdn, _) = split_dn(&dn);
            let value = rdn
                .split_once('=')
                .map(|(_, v)| v)
                .unwrap_or(rdn)
                .to_owned();
            let attributes = vec![
                (
                    "objectClass".to_owned(),
                    HashSet::from(["organizationalUnit".to_owned()]),
                ),
                ("ou".to_owned(), HashSet::from([value])),
            ];
            let what = format!("creating {dn}");
            let result = self
                .call(|mut l| async move { l.add(&dn, attributes).await })
                .await?;
            converged(&result, &[ENTRY_ALREADY_EXISTS], &what)?;
        }
        Ok(())
    }

    /// Adds or deletes member values. When the batch fails because some values are already
    /// so, each value is tried on its own and those answers are ignored.
    async fn members(
        &self,
        group: &str,
        values: &BTreeSet<String>,
        add: bool,
    ) -> Result<(), TargetError> {
        let attribute = self.settings.member_attribute.clone();
        let already = if add {
            ATTRIBUTE_OR_VALUE_EXISTS
        } else {
            NO_SUCH_ATTRIBUTE
        };
        let change = |values: HashSet<String>| match add {
            true => Mod::Add(attribute.clone(), values),
            false => Mod::Delete(attribute.clone(), values),
        };
        let batch = change(values.iter().cloned().collect());
        let dn = group.to_owned();
        let result = self
            .call(|mut l| async move { l.modify(&dn, vec![batch]).await })
            .await?;
        if result.rc != already {
            return converged(&result, &[], &format!("changing the members of {group}"));
        }
        for value in values {
            let one = change(HashSet::from([value.clone()]));
            let dn = group.to_owned();
            let result = self
                .call(|mut l| async move { l.modify(&dn, vec![one]).await })
                .await?;
            converged(
                &result,
                &[already],
                &format!("changing the members of {group}"),
            )?;
        }
        Ok(())
    }

    async fn apply_operation(
        &self,
        tenant: &Tenant,
        operation: &Operation,
    ) -> Result<(), TargetError> {
        match operation {
            Operation::Create {
                kind,
                location,
                attributes,
                members,
                ..
            } => {
                self.ensure_containers(&Layout::of(&self.settings, tenant))
                    .await?;
                let mut entry: Vec<(String, HashSet<String>)> = attributes
                    .iter()
                    .map(|(name, values)| (name.clone(), values.iter().cloned().collect()))
                    .collect();
                let classes = match kind {
                    Kind::User => self.settings.user_object_classes.iter().cloned().collect(),
                    Kind::Group => HashSet::from([self.settings.group_object_class.clone()]),
                };
                entry.push(("objectClass".into(), classes));
                if *kind == Kind::Group {
                    let mut values: HashSet<String> = members.iter().cloned().collect();
                    if is_posix(&self.settings) {
                        let gid = self.next_gid_number().await?;
                        entry.push(("gidNumber".into(), HashSet::from([gid.to_string()])));
                    } else if values.is_empty() {
                        values.insert(self.settings.placeholder_dn.clone());
                    }
                    if !values.is_empty() {
                        entry.push((self.settings.member_attribute.clone(), values));
                    }
                }
                let dn = location.clone();
                let result = self
                    .call(|mut l| async move { l.add(&dn, entry).await })
                    .await?;
                converged(
                    &result,
                    &[ENTRY_ALREADY_EXISTS],
                    &format!("creating {location}"),
                )
            }
            Operation::Move { from, to, .. } => {
                let (rdn, parent) = split_dn(to);
                let (_, old_parent) = split_dn(from);
                let new_parent =
                    (!parent.eq_ignore_ascii_case(old_parent)).then(|| parent.to_owned());
                if new_parent.is_some() {
                    self.ensure_containers(&Layout::of(&self.settings, tenant))
                        .await?;
                }
                let (dn, rdn) = (from.clone(), rdn.to_owned());
                let result = self
                    .call(|mut l| async move {
                        l.modifydn(&dn, &rdn, true, new_parent.as_deref()).await
                    })
                    .await?;
                converged(&result, &[], &format!("renaming {from} to {to}"))
            }
            Operation::Update {
                location, changes, ..
            } => {
                let mods: Vec<Mod<String>> = changes
                    .iter()
                    .map(|c| Mod::Replace(c.name.clone(), c.values.iter().cloned().collect()))
                    .collect();
                let dn = location.clone();
                let result = self
                    .call(|mut l| async move { l.modify(&dn, mods).await })
                    .await?;
                converged(&result, &[], &format!("updating {location}"))
            }
            Operation::AddMembers {
                location,
                members,
                was_empty,
                ..
            } => {
                self.members(location, members, true).await?;
                if *was_empty && !is_posix(&self.settings) {
                    let placeholder = BTreeSet::from([self.settings.placeholder_dn.clone()]);
                    self.members(location, &placeholder, false).await?;
                }
                Ok(())
            }
            Operation::RemoveMembers {
                location,
                members,
                leaves_empty,
                ..
            } => {
                if *leaves_empty && !is_posix(&self.settings) {
                    let placeholder = BTreeSet::from([self.settings.placeholder_dn.clone()]);
                    self.members(location, &placeholder, true).await?;
                }
                self.members(location, members, false).await
            }
            Operation::Delete { location, .. } => {
                let dn = location.clone();
                let result = self
                    .call(|mut l| async move { l.delete(&dn).await })
                    .await?;
                converged(&result, &[NO_SUCH_OBJECT], &format!("deleting {location}"))
            }
        }
    }
}

impl LdapTarget {
    /// The directory's URLs, for messages.
    fn directory(&self) -> String {
        self.settings.urls.join(" ")
    }

    /// The next free gidNumber for a new posixGroup: above every gidNumber under the base DN
    /// (all tenants), and at least `gid_number_min`. Read once per process, then counted up.
    async fn next_gid_number(&self) -> Result<u32, TargetError> {
        let mut next = self.next_gid.lock().await;
        if let Some(gid) = *next {
            *next = Some(gid + 1);
            return Ok(gid);
        }
        let mut ldap = self.ldap().await?;
        let found = ldap
            .with_timeout(self.settings.timeout)
            .search(
                &self.settings.base_dn,
                Scope::Subtree,
                "(gidNumber=*)",
                vec!["gidNumber"],
            )
            .await
            .map_err(|e| unavailable(&self.directory(), e))?;
        let (entries, result) = (found.0, found.1);
        if result.rc != 0 && result.rc != NO_SUCH_OBJECT {
            return Err(TargetError::Unavailable(format!(
                "reading gidNumbers failed (rc {})",
                result.rc
            )));
        }
        let highest = entries
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(|e| {
                e.attrs
                    .get("gidNumber")
                    .and_then(|v| v.first())
                    .and_then(|v| v.parse::<u32>().ok())
            })
            .max();
        let gid = highest.map_or(self.settings.gid_number_min, |h| {
            (h + 1).max(self.settings.gid_number_min)
        });
        *next = Some(gid + 1);
        Ok(gid)
    }
}

fn unavailable(url: &str, error: LdapError) -> TargetError {
    TargetError::Unavailable(format!("{url}: {error}"))
}

/// Success, or one of the answers that mean "already so".
fn converged(result: &LdapResult, already: &[u32], what: &str) -> Result<(), TargetError> {
    match result.rc {
        0 => Ok(()),
        rc if already.contains(&rc) => Ok(()),
        UNWILLING_TO_PERFORM => Err(TargetError::Unavailable(format!(
            "{what}: the server is unwilling ({})",
            result.text
        ))),
        rc => Err(TargetError::Refused(format!(
            "{what}: rc {rc} ({})",
            result.text
        ))),
    }
}

#[async_trait::async_trait]
impl Target for LdapTarget {
    fn name(&self) -> &'static str {
        "ldap"
    }

    fn serves(&self, tenant: &Tenant) -> bool {
        keeps(&self.settings.tenants, tenant)
    }

    fn desired(
        &self,
        tenant: &Tenant,
        users: &[User],
        groups: &[Group],
    ) -> Result<Desired, DomainError> {
        desired::desired(&self.settings, tenant, users, groups)
    }

    fn mapper<'a>(&'a self, tenant: &'a Tenant) -> Box<dyn Mapper + 'a> {
        Box::new(desired::LdapMapper::new(&self.settings, tenant))
    }

    async fn observe(&self, tenant: &Tenant) -> Result<Observed, TargetError> {
        let mut entries = Vec::new();
        self.observe_each(tenant, &mut |entry| entries.push(entry))
            .await?;
        entries.shrink_to_fit();
        Ok(Observed { entries })
    }

    fn narrows(&self) -> bool {
        true
    }

    async fn observe_each(
        &self,
        tenant: &Tenant,
        each: &mut (dyn FnMut(ObservedEntry) + Send),
    ) -> Result<(), TargetError> {
        let layout = Layout::of(&self.settings, tenant);
        let mut user_bases = vec![layout.users.clone()];
        user_bases.extend(layout.disabled.clone());
        for base in user_bases {
            self.read(Kind::User, &base, each).await?;
        }
        self.read(Kind::Group, &layout.groups, each).await
    }

    async fn observe_again(
        &self,
        _tenant: &Tenant,
        wanted: &[(Kind, String)],
    ) -> Result<Vec<ObservedEntry>, TargetError> {
        // One base search per entry, several in flight on the one connection (ldap3
        // multiplexes them): a run reads again only what differs, a few entries in a quiet
        // run, the whole directory only when everything changed. The searches are made a
        // batch at a time, collected first: a lazily mapped iterator's borrow is too general
        // for the trait's Send future.
        let mut found = Vec::new();
        for batch in wanted.chunks(READ_AGAIN_BATCH) {
            let reads: Vec<_> = batch
                .iter()
                .map(|(kind, dn)| self.read_one(*kind, dn))
                .collect();
            let read: Vec<Option<ObservedEntry>> = futures_util::stream::iter(reads)
                .buffered(READ_AGAIN_IN_FLIGHT)
                .try_collect()
                .await?;
            found.extend(read.into_iter().flatten());
        }
        Ok(found)
    }

    async fn apply(&self, tenant: &Tenant, operation: &Operation) -> Result<(), TargetError> {
        self.apply_operation(tenant, operation).await
    }
}
