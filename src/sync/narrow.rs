//! Narrowed runs: a run that keeps a fingerprint of each entry instead of the entry, and reads
//! in full only the entries whose fingerprints differ.
//!
//! A run at 100,000 users held both sides whole, about 3 KiB an entry, while a no-change run
//! plans nothing. Here the target is read first, and each entry is reduced as it streams in to
//! a summary ([`SummaryRow`]): who it is (kind, anchor, marker, location) and a 128-bit digest
//! of what `plan` compares (the attributes that have values, the member set compared the way `plan`
//! compares members). The store is then read a page at a time, and each desired entry is
//! matched by `plan`'s own rules against the summaries ([`Narrowing::consider`]), by marker,
//! then by location. `plan`'s first rule, the anchor a run recorded, finds what the marker
//! finds when the links come from the same read, as a run's do, so it is not needed here (a
//! property test checks that too). A matched
//! pair whose location and digest agree cannot produce an operation, so both are dropped.
//! What is kept is exactly what `plan` could act on:
//! - a desired entry that differs from its match, or matches nothing (a create or a conflict);
//! - the observed entry it matched (read again in full: the operation needs its values), or
//!   the entry at its location (a conflict needs only who it is; an entry the target lets a
//!   resource adopt is read again in full);
//! - every observed entry nothing matched: a delete or an unmanaged entry, each of which
//!   needs only who it is and where.
//!
//! `plan_within` over these, with the whole's [`Context`] and no links, is `plan` over
//! everything: each kept
//! desired entry finds the same match (the entries it could match are kept, in their order, so
//! "the last one wins" picks the same one), and an entry left out takes part in no operation.
//! A property test checks exactly that equality.
//!
//! An apply may also defer its creates ([`ObservedIndex::narrow`]): a desired entry that
//! matches nothing, by marker or by location, can only be created, and its values matter only
//! to the create itself, and no other operation depends on it (`plan` turns it into a create
//! and nothing else), so it is left out of the plan and only who it is and where are kept, in
//! [`Narrowed::deferred`] (on disk); the apply maps it again from the store when it creates it
//! (see `engine::deferred`). A first run of 100,000 users then plans over nothing.
//!
//! The summaries, the anchors matched and the kept places are all a run remembers of each
//! entry; the summaries and the anchors go to the run's scratch file (`store::scratch`), so
//! the memory a run holds does not grow with the directory (at 100,000 users they were about
//! 200 bytes an entry in hash maps). Only what a plan keeps is held in memory.
//!
//! A digest that agreed by accident would hide a change until the entry changed again; the
//! fingerprints are keyed per run with random keys, so a value cannot be chosen to collide.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};

use uuid::Uuid;

use super::model::{Desired, DesiredEntry, Kind, Observed, ObservedEntry};
use super::plan::{Context, key};
use super::values::Attributes;
use crate::domain::DomainError;
use crate::domain::sync::TargetLink;
use crate::store::{Print, Scratch, SummaryRow};

/// Keyed 128-bit fingerprints, fresh keys each run.
#[derive(Debug, Default)]
struct Fingerprints {
    high: RandomState,
    low: RandomState,
}

impl Fingerprints {
    fn of<T: Hash + ?Sized>(&self, value: &T) -> Print {
        [self.high.hash_one(value), self.low.hash_one(value)]
    }

    /// What `plan` compares of an entry: its attributes with values, and its members as
    /// `plan` compares them (lower-cased, as a set).
    fn content(&self, attributes: &Attributes, members: &BTreeSet<String>) -> Print {
        let mut keys: Vec<String> = members.iter().map(|m| key(m)).collect();
        keys.sort_unstable();
        keys.dedup();
        let feed = |hasher: &mut dyn Hasher| {
            for (name, values) in attributes.iter().filter(|(_, v)| !v.is_empty()) {
                hasher.write(name.as_bytes());
                hasher.write_u8(0xff);
                hasher.write_usize(values.len());
                for value in values {
                    hasher.write(value.as_bytes());
                    hasher.write_u8(0xff);
                }
            }
            hasher.write_u8(0xfe);
            hasher.write_usize(keys.len());
            for member in &keys {
                hasher.write(member.as_bytes());
                hasher.write_u8(0xff);
            }
        };
        let mut high = self.high.build_hasher();
        feed(&mut high);
        let mut low = self.low.build_hasher();
        feed(&mut low);
        [high.finish(), low.finish()]
    }
}

/// What the run numbers a kind as in its scratch file.
fn code(kind: Kind) -> u8 {
    match kind {
        Kind::User => 0,
        Kind::Group => 1,
    }
}

fn kind_of(code: u8) -> Kind {
    match code {
        0 => Kind::User,
        _ => Kind::Group,
    }
}

/// An observed entry as far as its summary knows it, given its names: enough for a delete,
/// an unmanaged entry or a conflict, which need no values.
fn entry_of(summary: &SummaryRow, anchor: &str, location: &str) -> ObservedEntry {
    ObservedEntry {
        kind: kind_of(summary.kind),
        anchor: anchor.to_owned(),
        location: location.to_owned(),
        managed_id: summary.managed_id,
        attributes: Attributes::new(),
        members: Default::default(),
        adoptable: summary.adoptable,
    }
}

/// What a target holds, as summaries in the run's scratch file (see `store::scratch`),
/// found the way `plan` looks entries up: by marker or location, the last entry of a key
/// winning, as in `plan`'s maps. Each summary is who the entry is (kind, marker, whether it
/// may be adopted), where it is and a digest of the rest; its anchor and location are kept
/// only when its resource's link does not hold them: the first entry read with each marker is
/// linked (see [`ObservedIndex::push`]), and the names of 100,000 managed entries were most of
/// what a run held.
#[derive(Debug)]
pub struct ObservedIndex {
    prints: Fingerprints,
    scratch: Scratch,
    /// Entries read so far (u32: a run reads fewer than four billion entries).
    read: u32,
    /// Of those, the ones that carry a marker.
    managed: usize,
}

impl ObservedIndex {
    /// An empty index with fresh fingerprint keys.
    pub fn new() -> Result<Self, DomainError> {
        Ok(Self {
            prints: Fingerprints::default(),
            scratch: Scratch::open()?,
            read: 0,
            managed: 0,
        })
    }

    /// Adds an entry as it is read, keeping only its summary. The first entry read with a
    /// resource's marker is that resource's link, as the store records links (the first of
    /// two wins): it is returned for the run to record, and the summary keeps no names; the
    /// run looks up the few it needs again in the store ([`Unnamed::linked`]). Links are by
    /// resource, so an entry of either kind with the marker counts.
    pub fn push(&mut self, entry: ObservedEntry) -> Result<Option<TargetLink>, DomainError> {
        let linked = match entry.managed_id {
            Some(id) if self.scratch.first_with_marker(id)? => Some(id),
            _ => None,
        };
        let mut summary = SummaryRow {
            kind: code(entry.kind),
            adoptable: entry.adoptable,
            managed_id: entry.managed_id,
            anchor: self.prints.of(entry.anchor.as_str()),
            location: self.prints.of(key(&entry.location).as_str()),
            content: self.prints.content(&entry.attributes, &entry.members),
            names: None,
        };
        let link = match linked {
            Some(id) => Some(TargetLink {
                resource_type: entry.kind.as_str().to_owned(),
                resource_id: id,
                anchor: entry.anchor,
                location: entry.location,
            }),
            None => {
                summary.names = Some((entry.anchor, entry.location));
                None
            }
        };
        self.scratch.push_summary(self.read, &summary)?;
        self.read += 1;
        self.managed += usize::from(summary.managed_id.is_some());
        Ok(link)
    }

    /// Starts matching desired entries against the index, once every entry is read (the
    /// summaries are indexed now); with `defer_creates`, a desired entry that matches nothing
    /// is left out and deferred (see the module's documentation).
    pub fn narrow(&self, defer_creates: bool) -> Result<Narrowing<'_>, DomainError> {
        self.scratch.index_summaries()?;
        Ok(Narrowing {
            index: self,
            kept: BTreeMap::new(),
            desired: Vec::new(),
            inactive: HashSet::new(),
            defer_creates,
            deferred: Deferred::new(),
        })
    }
}

/// How much of an observed entry the plan needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// Who and where: a delete, an unmanaged entry, a conflict.
    Summary,
    /// Its values too: it is compared with a desired entry.
    Whole,
}

/// Desired entries matched one at a time against an [`ObservedIndex`], keeping what differs.
#[derive(Debug)]
pub struct Narrowing<'a> {
    index: &'a ObservedIndex,
    /// Observed entries the plan needs, by their place in the read. (The anchors some
    /// desired entry matched, as `plan` keys them, are noted in the scratch file.)
    kept: BTreeMap<u32, Need>,
    desired: Vec<DesiredEntry>,
    inactive: HashSet<String>,
    defer_creates: bool,
    deferred: Deferred,
}

/// The creates an apply makes later, from the store mapped again: each resource's kind, SCIM
/// id and where the plan would create it, in a scratch file of their own (a first run defers
/// the whole directory, and the plan holds none of it).
#[derive(Debug, Default)]
pub struct Deferred {
    /// Opened with the first create deferred.
    scratch: Option<Scratch>,
    /// Creates deferred and not taken out, users and groups.
    users: usize,
    groups: usize,
}

impl Deferred {
    /// None deferred.
    pub fn new() -> Self {
        Self::default()
    }

    fn count(&mut self, kind: Kind) -> &mut usize {
        match kind {
            Kind::User => &mut self.users,
            Kind::Group => &mut self.groups,
        }
    }

    /// Defers the create of `entry`; a resource deferred twice keeps its first place.
    fn insert(&mut self, entry: &DesiredEntry) -> Result<(), DomainError> {
        let scratch = match &mut self.scratch {
            Some(scratch) => scratch,
            None => self.scratch.insert(Scratch::open()?),
        };
        if scratch.defer(code(entry.kind), entry.id, &key(&entry.location))? {
            *self.count(entry.kind) += 1;
        }
        Ok(())
    }

    /// Takes the create of this resource out: where the plan would have created it
    /// (lower-cased, as `plan` compares locations), if it was deferred.
    pub fn take(&mut self, kind: Kind, id: Uuid) -> Result<Option<String>, DomainError> {
        let Some(scratch) = &self.scratch else {
            return Ok(None);
        };
        let taken = scratch.take_deferred(code(kind), id)?;
        if taken.is_some() {
            *self.count(kind) -= 1;
        }
        Ok(taken)
    }

    /// How many creates are deferred and not taken out.
    pub fn len(&self) -> usize {
        self.users + self.groups
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The deferred creates as a plan counts its operations (`Plan::counts`, in its order).
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, usize)> {
        [("create_group", self.groups), ("create_user", self.users)]
            .into_iter()
            .filter(|(_, count)| *count > 0)
    }
}

impl<'a> Narrowing<'a> {
    /// Matches one desired entry (in the order `plan` would see it) and keeps it if it could
    /// take part in an operation.
    pub fn consider(&mut self, entry: DesiredEntry) -> Result<(), DomainError> {
        let index = self.index;
        let location = key(&entry.location);
        let location_print = index.prints.of(location.as_str());
        if entry.is_deactivated_user() {
            self.inactive.insert(location);
        }
        match index.scratch.last_by_marker(code(entry.kind), entry.id)? {
            Some((i, observed)) => {
                index.scratch.mark_matched(&observed.anchor)?;
                let same = observed.location == location_print
                    && observed.content == index.prints.content(&entry.attributes, &entry.members);
                if same {
                    return Ok(());
                }
                keep(&mut self.kept, i, Need::Whole);
            }
            // Then the location: an entry there is adopted (compared in full) or a conflict.
            None => match index.scratch.last_by_location(&location_print)? {
                Some((i, observed)) => {
                    index.scratch.mark_matched(&observed.anchor)?;
                    let need = match observed.adoptable && observed.managed_id.is_none() {
                        true => Need::Whole,
                        false => Need::Summary,
                    };
                    keep(&mut self.kept, i, need);
                }
                // Nothing it could match: a create, whatever its values; made later.
                None if self.defer_creates => return self.deferred.insert(&entry),
                None => {}
            },
        }
        self.desired.push(entry);
        Ok(())
    }

    /// Ends the matching: every observed entry nothing matched is kept too (a delete or an
    /// unmanaged entry), and the summaries of those kept are taken out of the scratch file.
    pub fn finish(mut self) -> Result<Unnamed, DomainError> {
        let index = self.index;
        let kept = &mut self.kept;
        index
            .scratch
            .each_unmatched(&mut |i| keep(kept, i, Need::Summary))?;
        let mut summaries = Vec::with_capacity(self.kept.len());
        for (i, need) in self.kept {
            match index.scratch.summary_at(i)? {
                Some(summary) => summaries.push((summary, need)),
                None => {
                    return Err(DomainError::Internal(format!(
                        "entry {i} of the run's scratch file is missing"
                    )));
                }
            }
        }
        Ok(Unnamed {
            kept: summaries,
            desired: Desired {
                entries: self.desired,
            },
            deferred: self.deferred,
            context: Context {
                managed: index.managed,
                inactive: self.inactive,
            },
        })
    }
}

fn keep(kept: &mut BTreeMap<u32, Need>, index: u32, need: Need) {
    let kept = kept.entry(index).or_insert(need);
    *kept = (*kept).max(need);
}

/// What a narrowed run keeps, before the kept entries that are linked get their names.
#[derive(Debug)]
pub struct Unnamed {
    /// The summaries of the observed entries kept, in the order they were read.
    kept: Vec<(SummaryRow, Need)>,
    desired: Desired,
    deferred: Deferred,
    context: Context,
}

impl Unnamed {
    /// The resources whose links name kept entries: kind and SCIM id.
    pub fn linked(&self) -> Vec<(Kind, Uuid)> {
        self.kept
            .iter()
            .filter(|(s, _)| s.names.is_none())
            .filter_map(|(s, _)| s.managed_id.map(|id| (kind_of(s.kind), id)))
            .collect()
    }

    /// Names the kept entries, the linked ones from `links` (by SCIM id). A link missing is
    /// an error: the run recorded every link it read.
    pub fn name(self, links: &HashMap<Uuid, TargetLink>) -> Result<Narrowed, String> {
        let mut observed = Vec::with_capacity(self.kept.len());
        for (summary, need) in &self.kept {
            let (anchor, location) = match (&summary.names, summary.managed_id) {
                (Some((anchor, location)), _) => (anchor.as_str(), location.as_str()),
                (None, Some(id)) => match links.get(&id) {
                    Some(link) => (link.anchor.as_str(), link.location.as_str()),
                    None => {
                        return Err(format!(
                            "the link of {} {id} recorded in this run is gone",
                            kind_of(summary.kind).as_str()
                        ));
                    }
                },
                (None, None) => return Err("an unmanaged entry has no names".into()),
            };
            observed.push(match need {
                Need::Summary => Kept::Entry(entry_of(summary, anchor, location)),
                Need::Whole => Kept::ReadAgain(kind_of(summary.kind), location.to_owned()),
            });
        }
        Ok(Narrowed {
            observed,
            desired: self.desired,
            deferred: self.deferred,
            context: self.context,
        })
    }
}

/// An observed entry a narrowed plan needs.
#[derive(Debug)]
enum Kept {
    /// All the plan needs of it.
    Entry(ObservedEntry),
    /// To be read again in full, by kind and location.
    ReadAgain(Kind, String),
}

/// What a narrowed run plans over, once the entries it compares are read again.
#[derive(Debug)]
pub struct Narrowed {
    observed: Vec<Kept>,
    /// The desired entries that may take part in an operation.
    pub desired: Desired,
    /// The creates left out, to be mapped again when made.
    pub deferred: Deferred,
    /// What the whole holds.
    pub context: Context,
}

impl Narrowed {
    /// The entries to read again in full, by kind and location.
    pub fn to_read_again(&self) -> Vec<(Kind, String)> {
        self.observed
            .iter()
            .filter_map(|kept| match kept {
                Kept::ReadAgain(kind, location) => Some((*kind, location.clone())),
                Kept::Entry(_) => None,
            })
            .collect()
    }

    /// The observed entries to plan over, with `fresh` (what reading them again returned) in
    /// place of those read again. An entry that is gone since the first read is left out:
    /// the plan then works from what the target holds now, and the next run converges.
    pub fn observed(&mut self, fresh: Vec<ObservedEntry>) -> Observed {
        let mut fresh: HashMap<(Kind, String), ObservedEntry> = fresh
            .into_iter()
            .map(|entry| ((entry.kind, key(&entry.location)), entry))
            .collect();
        let entries = std::mem::take(&mut self.observed)
            .into_iter()
            .filter_map(|kept| match kept {
                Kept::Entry(entry) => Some(entry),
                Kept::ReadAgain(kind, location) => fresh.remove(&(kind, key(&location))),
            })
            .collect();
        Observed { entries }
    }
}

#[cfg(test)]
mod tests;
