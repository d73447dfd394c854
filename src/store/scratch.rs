//! A reconciliation run's working set, on disk instead of in memory.
//!
//! A run compares every entry a target holds with the store, so what it remembers of each
//! entry (a summary, the links it recorded) grows with the directory: at 100,000 users that
//! was about 280 bytes an entry. Here it goes to a private temporary SQLite database instead:
//! SQLite keeps at most [`CACHE_KIB`] of it in memory and writes the rest to a file that only
//! this connection can see and that is removed when the connection closes (SQLite's "" file
//! name: the file is created only once the cache spills, and unlinked as it is created, so a
//! crash leaves nothing behind). Nothing here must survive the run, so nothing is journalled or
//! synced, and everything is written in one transaction that is never committed: a commit per
//! statement made each summary cost half again as much.
//!
//! The file lands in SQLite's temporary directory (`SQLITE_TMPDIR`, else `TMPDIR`, else
//! `/var/tmp`, else `/tmp`; under the systemd unit's `PrivateTmp=yes`, the unit's own).

use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::domain::{DomainError, GroupId, MemberRef, UserId};

/// The most of a working set SQLite holds in memory; the rest waits in its file.
pub const CACHE_KIB: u32 = 2048;

/// A 128-bit fingerprint, as the run computes it.
pub type Print = [u64; 2];

const SCHEMA: &str = "
    PRAGMA journal_mode = OFF;
    PRAGMA synchronous = OFF;
    CREATE TABLE summary (
        place INTEGER PRIMARY KEY,
        kind INTEGER NOT NULL,
        adoptable INTEGER NOT NULL,
        managed_id BLOB,
        anchor BLOB NOT NULL,
        location BLOB NOT NULL,
        content BLOB NOT NULL,
        anchor_name TEXT,
        location_name TEXT
    );
    CREATE TABLE linked (resource_id BLOB PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE matched (anchor BLOB PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE seen (resource_id BLOB PRIMARY KEY, type INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE user_rdn (id BLOB PRIMARY KEY, rdn TEXT) WITHOUT ROWID;
    CREATE TABLE pending_group (
        place INTEGER PRIMARY KEY,
        id BLOB NOT NULL,
        display_name TEXT NOT NULL,
        members BLOB NOT NULL
    );
    CREATE INDEX pending_group_by_id ON pending_group (id);
    CREATE TABLE deferred (
        id BLOB NOT NULL,
        kind INTEGER NOT NULL,
        location TEXT NOT NULL,
        PRIMARY KEY (id, kind)
    ) WITHOUT ROWID;
    BEGIN;
";

/// The columns of `summary`, as [`summary_of`] reads them.
macro_rules! summary_columns {
    () => {
        "place, kind, adoptable, managed_id, anchor, location, content, anchor_name, location_name"
    };
}

/// Reads the last summary with `$condition`.
macro_rules! last_summary {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            summary_columns!(),
            " FROM summary WHERE ",
            $condition,
            " ORDER BY place DESC LIMIT 1"
        )
    };
}

/// An observed entry as a run remembers it: who it is, where, and a digest of the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The entry's kind, as the run numbers kinds.
    pub kind: u8,
    /// Whether a resource may adopt it.
    pub adoptable: bool,
    /// The resource its marker names.
    pub managed_id: Option<Uuid>,
    /// Fingerprints of its anchor, its location (as compared) and its content.
    pub anchor: Print,
    /// See `anchor`.
    pub location: Print,
    /// See `anchor`.
    pub content: Print,
    /// Its anchor and location, when no link holds them.
    pub names: Option<(String, String)>,
}

/// A group as a mapper keeps it until every user is mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingGroup {
    /// The group's SCIM id.
    pub id: Uuid,
    /// Its displayName.
    pub display_name: String,
    /// Its members.
    pub members: Vec<MemberRef>,
}

/// Bytes a member takes in `pending_group.members`: its kind, then its id.
const MEMBER_BYTES: usize = 17;

fn members_bytes(members: &[MemberRef]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(members.len() * MEMBER_BYTES);
    for member in members {
        let (kind, id) = match member {
            MemberRef::User(id) => (0, id.as_uuid()),
            MemberRef::Group(id) => (1, id.as_uuid()),
        };
        bytes.push(kind);
        bytes.extend_from_slice(id.as_bytes());
    }
    bytes
}

fn members_of(bytes: &[u8]) -> Vec<MemberRef> {
    bytes
        .chunks_exact(MEMBER_BYTES)
        .filter_map(|chunk| {
            let (kind, id) = chunk.split_first()?;
            let id = Uuid::from_slice(id).ok()?;
            Some(match kind {
                0 => MemberRef::User(UserId::from_uuid(id)),
                _ => MemberRef::Group(GroupId::from_uuid(id)),
            })
        })
        .collect()
}

/// A run's working set: summaries of what a target holds, the anchors matched, the resources
/// whose links were recorded; what a mapper keeps of users for their groups, and the groups.
pub struct Scratch {
    // Held only for one statement: the run's futures hold the scratch across awaits, which
    // asks for `Sync`, and a connection is not.
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch").finish_non_exhaustive()
    }
}

fn failed(error: rusqlite::Error) -> DomainError {
    DomainError::Internal(format!("a run's scratch file: {error}"))
}

fn print_bytes(print: &Print) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&print[0].to_le_bytes());
    bytes[8..].copy_from_slice(&print[1].to_le_bytes());
    bytes
}

fn print_of(bytes: [u8; 16]) -> Print {
    let (high, low) = bytes.split_at(8);
    let word = |half: &[u8]| {
        let mut word = [0; 8];
        word.copy_from_slice(half);
        u64::from_le_bytes(word)
    };
    [word(high), word(low)]
}

fn summary_of(row: &Row<'_>) -> rusqlite::Result<(u32, SummaryRow)> {
    let anchor_name: Option<String> = row.get(7)?;
    let location_name: Option<String> = row.get(8)?;
    Ok((
        row.get(0)?,
        SummaryRow {
            kind: row.get(1)?,
            adoptable: row.get(2)?,
            managed_id: row.get::<_, Option<[u8; 16]>>(3)?.map(Uuid::from_bytes),
            anchor: print_of(row.get(4)?),
            location: print_of(row.get(5)?),
            content: print_of(row.get(6)?),
            names: anchor_name.zip(location_name),
        },
    ))
}

impl Scratch {
    /// An empty working set.
    pub fn open() -> Result<Scratch, DomainError> {
        let connection = Connection::open("").map_err(failed)?;
        connection
            .pragma_update(None, "cache_size", -i64::from(CACHE_KIB))
            .map_err(failed)?;
        connection.execute_batch(SCHEMA).map_err(failed)?;
        Ok(Scratch {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a statement that writes; how many rows it changed.
    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, DomainError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(sql).map_err(failed)?;
        statement.execute(params).map_err(failed)
    }

    /// The first row a statement returns, read by `read`, if it returns one.
    fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, DomainError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(sql).map_err(failed)?;
        statement.query_row(params, read).optional().map_err(failed)
    }

    /// Keeps the summary of the entry read at `place`.
    pub fn push_summary(&self, place: u32, row: &SummaryRow) -> Result<(), DomainError> {
        let (anchor_name, location_name) = row.names.as_ref().map(|(a, l)| (a, l)).unzip();
        let insert = concat!(
            "INSERT INTO summary (",
            summary_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        self.execute(
            insert,
            params![
                place,
                row.kind,
                row.adoptable,
                row.managed_id.map(Uuid::into_bytes),
                print_bytes(&row.anchor),
                print_bytes(&row.location),
                print_bytes(&row.content),
                anchor_name,
                location_name,
            ],
        )?;
        Ok(())
    }

    /// The last summary kept with this kind and marker, and its place.
    pub fn last_by_marker(
        &self,
        kind: u8,
        id: Uuid,
    ) -> Result<Option<(u32, SummaryRow)>, DomainError> {
        let select = last_summary!("managed_id = ?1 AND kind = ?2");
        self.row(select, params![id.into_bytes(), kind], summary_of)
    }

    /// Notes that an entry with this resource's marker was read; `true` the first time.
    pub fn first_with_marker(&self, id: Uuid) -> Result<bool, DomainError> {
        let insert = "INSERT OR IGNORE INTO linked (resource_id) VALUES (?1)";
        Ok(self.execute(insert, [id.into_bytes()])? == 1)
    }

    /// Indexes the summaries by marker and by location, once they are all kept: one sorted
    /// build costs less than keeping the indexes up to date while summaries arrive in no
    /// order (a third of the time, at 110,000 summaries). Lookups before it are correct, only
    /// slow.
    pub fn index_summaries(&self) -> Result<(), DomainError> {
        self.connection()
            .execute_batch(
                "CREATE INDEX IF NOT EXISTS summary_by_marker ON summary (managed_id, kind) \
                     WHERE managed_id IS NOT NULL;
                 CREATE INDEX IF NOT EXISTS summary_by_location ON summary (location);",
            )
            .map_err(failed)
    }

    /// The last summary kept with this location fingerprint, and its place.
    pub fn last_by_location(
        &self,
        location: &Print,
    ) -> Result<Option<(u32, SummaryRow)>, DomainError> {
        let select = last_summary!("location = ?1");
        self.row(select, [print_bytes(location)], summary_of)
    }

    /// The summary kept at `place`.
    pub fn summary_at(&self, place: u32) -> Result<Option<SummaryRow>, DomainError> {
        let found = self.row(last_summary!("place = ?1"), [place], summary_of)?;
        Ok(found.map(|(_, row)| row))
    }

    /// Notes that an entry with this anchor was matched.
    pub fn mark_matched(&self, anchor: &Print) -> Result<(), DomainError> {
        let insert = "INSERT OR IGNORE INTO matched (anchor) VALUES (?1)";
        self.execute(insert, [print_bytes(anchor)])?;
        Ok(())
    }

    /// Hands `each` the place of every summary whose anchor was not matched, in order.
    pub fn each_unmatched(&self, each: &mut dyn FnMut(u32)) -> Result<(), DomainError> {
        let connection = self.connection();
        let mut select = connection
            .prepare_cached(
                "SELECT place FROM summary \
                 WHERE NOT EXISTS (SELECT 1 FROM matched WHERE matched.anchor = summary.anchor) \
                 ORDER BY place",
            )
            .map_err(failed)?;
        let mut rows = select.query([]).map_err(failed)?;
        while let Some(row) = rows.next().map_err(failed)? {
            each(row.get(0).map_err(failed)?);
        }
        Ok(())
    }

    /// Notes a resource's link as recorded with the type numbered `type_code`; `false` when
    /// one was recorded already (which keeps its type).
    pub fn see(&self, id: Uuid, type_code: u8) -> Result<bool, DomainError> {
        let insert = "INSERT OR IGNORE INTO seen (resource_id, type) VALUES (?1, ?2)";
        Ok(self.execute(insert, params![id.into_bytes(), type_code])? == 1)
    }

    /// The type number a resource's link was recorded with, if it was.
    pub fn seen_type(&self, id: Uuid) -> Result<Option<u8>, DomainError> {
        let select = "SELECT type FROM seen WHERE resource_id = ?1";
        self.row(select, [id.into_bytes()], |row| row.get(0))
    }

    /// Keeps what a group lists for a user: its RDN value, or `None` when it is deactivated
    /// (and leaves its groups). A user kept twice keeps the second.
    pub fn keep_rdn(&self, id: Uuid, rdn: Option<&str>) -> Result<(), DomainError> {
        let insert = "INSERT OR REPLACE INTO user_rdn (id, rdn) VALUES (?1, ?2)";
        self.execute(insert, params![id.into_bytes(), rdn])?;
        Ok(())
    }

    /// What `keep_rdn` kept for a user; `None` for a user never kept.
    pub fn rdn(&self, id: Uuid) -> Result<Option<Option<String>>, DomainError> {
        let select = "SELECT rdn FROM user_rdn WHERE id = ?1";
        self.row(select, [id.into_bytes()], |row| row.get(0))
    }

    /// Keeps a group, the `place`th a mapper was given.
    pub fn push_group(&self, place: u32, group: &PendingGroup) -> Result<(), DomainError> {
        let insert = "INSERT INTO pending_group (place, id, display_name, members) \
                      VALUES (?1, ?2, ?3, ?4)";
        let members = members_bytes(&group.members);
        let params = params![place, group.id.into_bytes(), group.display_name, members];
        self.execute(insert, params)?;
        Ok(())
    }

    /// Up to `limit` groups kept after the `after`th, in the order they were given, with
    /// their places.
    pub fn groups_after(
        &self,
        after: Option<u32>,
        limit: u32,
    ) -> Result<Vec<(u32, PendingGroup)>, DomainError> {
        let connection = self.connection();
        let mut select = connection
            .prepare_cached(
                "SELECT place, id, display_name, members FROM pending_group \
                 WHERE place > ?1 ORDER BY place LIMIT ?2",
            )
            .map_err(failed)?;
        let after = after.map_or(-1, i64::from);
        let rows = select
            .query_map(params![after, limit], |row| {
                Ok((
                    row.get(0)?,
                    PendingGroup {
                        id: Uuid::from_bytes(row.get(1)?),
                        display_name: row.get(2)?,
                        members: members_of(&row.get::<_, Vec<u8>>(3)?),
                    },
                ))
            })
            .map_err(failed)?;
        rows.collect::<Result<_, _>>().map_err(failed)
    }

    /// The displayName of the last group kept with this id.
    pub fn group_name(&self, id: Uuid) -> Result<Option<String>, DomainError> {
        let select = "SELECT display_name FROM pending_group WHERE id = ?1 \
                      ORDER BY place DESC LIMIT 1";
        self.row(select, [id.into_bytes()], |row| row.get(0))
    }

    /// Keeps a create for later: the resource's kind (as the run numbers kinds), id and where
    /// it would be created. `false` when it was kept already (which keeps the first).
    pub fn defer(&self, kind: u8, id: Uuid, location: &str) -> Result<bool, DomainError> {
        let insert = "INSERT OR IGNORE INTO deferred (id, kind, location) VALUES (?1, ?2, ?3)";
        Ok(self.execute(insert, params![id.into_bytes(), kind, location])? == 1)
    }

    /// Takes a create kept for later out: where it would be created, if it was kept.
    pub fn take_deferred(&self, kind: u8, id: Uuid) -> Result<Option<String>, DomainError> {
        let delete = "DELETE FROM deferred WHERE id = ?1 AND kind = ?2 RETURNING location";
        self.row(delete, params![id.into_bytes(), kind], |row| row.get(0))
    }
}

#[cfg(test)]
mod tests;
