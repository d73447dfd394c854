//! What the directory should hold for a tenant, built a page of users at a time: each user maps
//! on its own, and only what a group needs of it (its RDN value) is kept. Groups are kept
//! until the end: a group's members may be groups of a later page, so every group's location
//! must be known before any member is resolved. Then each group's entry is built and handed
//! over on its own. What is kept goes to the run's scratch file (`store::scratch`), not
//! memory: at 100,000 users and 10,000 groups it was a tenth of a no-change run's memory, and
//! it grows with the directory.

use std::collections::BTreeSet;

use super::mapping::{Layout, escape_rdn_value, group_location, is_posix, value_at};
use crate::configuration::{Deactivation, LdapSettings};
use crate::domain::{DomainError, Group, MemberRef, Tenant, User};
use crate::store::{PendingGroup, Scratch};
use crate::sync::model::{Attributes, Desired, DesiredEntry, Kind, Values, marker};
use crate::sync::target::Mapper;

/// Groups read back from the scratch file at a time.
const GROUP_BATCH: u32 = 100;

/// What the directory should hold for a tenant, from all of its users and groups at once.
pub fn desired(
    settings: &LdapSettings,
    tenant: &Tenant,
    users: &[User],
    groups: &[Group],
) -> Result<Desired, DomainError> {
    let mut mapper = LdapMapper::new(settings, tenant);
    users.iter().for_each(|user| mapper.user(user));
    groups.iter().for_each(|group| mapper.group(group));
    Box::new(mapper).finish_all()
}

/// Maps users as they come and groups at the end.
pub struct LdapMapper<'a> {
    settings: &'a LdapSettings,
    layout: Layout,
    marker_attribute: String,
    rdn: String,
    posix: bool,
    entries: Vec<DesiredEntry>,
    /// Each user's RDN value, from which its member value is built when a group needs it
    /// (a DN is mostly the users' container, the same for every user), none for a
    /// deactivated user, who leaves its groups; and the groups, until every user is mapped.
    /// `None` once the scratch file failed.
    kept: Option<Scratch>,
    /// Why the scratch file failed, until `finish_next` says so.
    failure: Option<DomainError>,
    /// Groups kept, and the place of the last one `finish_next` handed over.
    groups: u32,
    handed: Option<u32>,
}

impl<'a> LdapMapper<'a> {
    /// A mapper for the tenant's entries. A scratch file that cannot be opened fails
    /// `finish`.
    pub fn new(settings: &'a LdapSettings, tenant: &Tenant) -> Self {
        let mut mapper = Self {
            settings,
            layout: Layout::of(settings, tenant),
            marker_attribute: settings.marker_attribute.to_lowercase(),
            rdn: settings.user_rdn.to_lowercase(),
            posix: is_posix(settings),
            entries: Vec::new(),
            kept: None,
            failure: None,
            groups: 0,
            handed: None,
        };
        match Scratch::open() {
            Ok(scratch) => mapper.kept = Some(scratch),
            Err(e) => mapper.failure = Some(e),
        }
        mapper
    }

    /// Keeps something in the scratch file; after a failure nothing more is kept, and
    /// `finish` returns the failure.
    fn keep(&mut self, what: impl FnOnce(&Scratch) -> Result<(), DomainError>) {
        if let (Some(scratch), None) = (&self.kept, &self.failure)
            && let Err(e) = what(scratch)
        {
            self.failure = Some(e);
        }
    }

    fn group(&mut self, group: &Group) {
        let pending = PendingGroup {
            id: group.id.as_uuid(),
            display_name: group.data.display_name().to_owned(),
            members: group.members.iter().flatten().map(|m| m.member).collect(),
        };
        let place = self.groups;
        self.keep(|scratch| scratch.push_group(place, &pending));
        self.groups += 1;
    }

    fn user(&mut self, user: &User) {
        let settings = self.settings;
        let id = user.id.as_uuid();
        let mut attributes: Attributes = settings
            .attributes
            .iter()
            .map(|(name, paths)| {
                let value = paths.iter().find_map(|p| value_at(user.data.document(), p));
                (name.to_lowercase(), Values::from(value))
            })
            .collect();
        attributes.insert(self.marker_attribute.clone(), Values::from([marker(id)]));
        let active = user.data.active();
        if let Deactivation::LockAttribute(name, value) = &settings.deactivation {
            let lock = match active {
                true => Values::new(),
                false => Values::from([value.clone()]),
            };
            attributes.insert(name.to_lowercase(), lock);
        }
        let rdn_value = attributes
            .get(&self.rdn)
            .and_then(|v| v.first().cloned())
            .unwrap_or_else(|| id.to_string());
        let container = match (&self.layout.disabled, active) {
            (Some(disabled), false) => disabled,
            _ => &self.layout.users,
        };
        let location = format!("{}={},{container}", self.rdn, escape_rdn_value(&rdn_value));
        self.keep(|scratch| scratch.keep_rdn(id, active.then_some(rdn_value.as_str())));
        self.entries.push(DesiredEntry {
            kind: Kind::User,
            id,
            location,
            attributes,
            members: BTreeSet::new(),
            active,
        });
    }

    /// What a group lists for a member: for an active user, its uid under posixGroup (RFC 2307
    /// memberUid) and its DN otherwise (an active user's DN is always in the users' container);
    /// for a group, its DN, as other classes nest groups by DN and posixGroup cannot.
    fn member_value(
        &self,
        scratch: &Scratch,
        member: &MemberRef,
    ) -> Result<Option<String>, DomainError> {
        Ok(match member {
            MemberRef::User(id) => scratch
                .rdn(id.as_uuid())?
                .flatten()
                .map(|rdn_value| match self.posix {
                    true => rdn_value,
                    false => format!(
                        "{}={},{}",
                        self.rdn,
                        escape_rdn_value(&rdn_value),
                        self.layout.users
                    ),
                }),
            MemberRef::Group(_) if self.posix => None,
            MemberRef::Group(id) => scratch
                .group_name(id.as_uuid())?
                .map(|name| group_location(&self.layout, &name)),
        })
    }

    fn group_entry(
        &self,
        scratch: &Scratch,
        group: PendingGroup,
    ) -> Result<DesiredEntry, DomainError> {
        let mut members = BTreeSet::new();
        for member in &group.members {
            members.extend(self.member_value(scratch, member)?);
        }
        Ok(DesiredEntry {
            kind: Kind::Group,
            id: group.id,
            location: group_location(&self.layout, &group.display_name),
            attributes: Attributes::from([
                ("cn".to_owned(), Values::from([group.display_name])),
                (
                    self.marker_attribute.clone(),
                    Values::from([marker(group.id)]),
                ),
            ]),
            members,
            active: true,
        })
    }
}

impl Mapper for LdapMapper<'_> {
    fn users(&mut self, page: Vec<User>) {
        page.iter().for_each(|user| self.user(user));
    }

    fn groups(&mut self, page: Vec<Group>) {
        page.iter().for_each(|group| self.group(group));
    }

    fn drain(&mut self) -> Vec<DesiredEntry> {
        std::mem::take(&mut self.entries)
    }

    fn finish_next(&mut self) -> Result<Vec<DesiredEntry>, DomainError> {
        if let Some(e) = self.failure.take() {
            self.kept = None;
            return Err(e);
        }
        if !self.entries.is_empty() {
            return Ok(std::mem::take(&mut self.entries));
        }
        let Some(scratch) = &self.kept else {
            return Ok(Vec::new());
        };
        let batch = scratch.groups_after(self.handed, GROUP_BATCH)?;
        let mut handed = self.handed;
        let mut entries = Vec::with_capacity(batch.len());
        for (place, group) in batch {
            handed = Some(place);
            entries.push(self.group_entry(scratch, group)?);
        }
        self.handed = handed;
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::domain::fixtures::{self, tenant};
    use crate::domain::{GroupId, UserId};

    fn settings() -> LdapSettings {
        let env: HashMap<String, String> = [
            ("DIRSYNC__LDAP__URL", "ldap://127.0.0.1:1"),
            ("DIRSYNC__LDAP__BASE_DN", "dc=example,dc=com"),
            ("DIRSYNC__LDAP__BIND_DN", "cn=admin,dc=example,dc=com"),
            ("DIRSYNC__LDAP__BIND_PASSWORD", "secret"),
            ("DIRSYNC__ADMIN__TOKEN", "0123456789abcdef0123456789abcdef"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        match crate::configuration::load(None, Some(env)).map(|s| s.ldap) {
            Ok(Some(ldap)) => ldap,
            other => panic!("test LDAP settings: {other:?}"),
        }
    }

    fn user(n: u128, active: bool) -> User {
        let doc =
            json!({"userName": format!("user{n}"), "active": active, "name": {"familyName": "F"}});
        fixtures::user(UserId::from_uuid(Uuid::from_u128(n)), doc)
    }

    fn group(n: u128, members: Vec<MemberRef>) -> Group {
        let id = GroupId::from_uuid(Uuid::from_u128(n));
        fixtures::group(id, &format!("group{n}"), members)
    }

    #[test]
    fn pages_of_any_size_map_to_what_the_whole_tenant_maps_to() {
        let settings = settings();
        let tenant = tenant();
        let users: Vec<User> = (1..=7).map(|n| user(n, n != 3)).collect();
        let user_ref = |n: u128| MemberRef::User(UserId::from_uuid(Uuid::from_u128(n)));
        // The first group holds the last one, which a page-by-page read sees only later.
        let groups = vec![
            group(
                101,
                vec![
                    user_ref(1),
                    MemberRef::Group(GroupId::from_uuid(Uuid::from_u128(103))),
                ],
            ),
            group(102, vec![user_ref(2), user_ref(3)]),
            group(103, vec![user_ref(7)]),
        ];
        let whole = desired(&settings, &tenant, &users, &groups).unwrap();
        assert_eq!(whole.entries.len(), 10);
        let first = whole.entries.iter().find(|e| e.id == Uuid::from_u128(101));
        let first = first.map(|e| e.members.len());
        assert_eq!(first, Some(2), "the nested group is a member");
        let second = whole.entries.iter().find(|e| e.id == Uuid::from_u128(102));
        assert_eq!(
            second.map(|e| e.members.len()),
            Some(1),
            "deactivated users leave"
        );
        for page in [1, 2, 3, 10] {
            let mut mapper: Box<dyn Mapper> = Box::new(LdapMapper::new(&settings, &tenant));
            users.chunks(page).for_each(|p| mapper.users(p.to_vec()));
            groups.chunks(page).for_each(|p| mapper.groups(p.to_vec()));
            assert_eq!(mapper.finish_all().unwrap(), whole, "pages of {page}");
            // Taken out page by page, then the rest: the same entries in the same order.
            let mut mapper: Box<dyn Mapper> = Box::new(LdapMapper::new(&settings, &tenant));
            let mut entries = Vec::new();
            for chunk in users.chunks(page) {
                mapper.users(chunk.to_vec());
                let drained = mapper.drain();
                assert_eq!(
                    drained.len(),
                    chunk.len(),
                    "each user as its page is mapped"
                );
                entries.extend(drained);
            }
            groups.chunks(page).for_each(|p| mapper.groups(p.to_vec()));
            entries.extend(mapper.finish_all().unwrap().entries);
            assert_eq!(Desired { entries }, whole, "drained in pages of {page}");
        }
    }
}
