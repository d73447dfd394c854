//! Group commit for user creates on SQLite. An IdP's first cycle sends thousands of creates at once; one
//! transaction each makes every create wait for its own BEGIN, INSERT, change-log INSERT and
//! COMMIT on the single SQLite writer, where each statement is a round trip to the connection's
//! thread. Creates that queue up while a batch is being written are instead written by the next
//! batch in one transaction of four statements, however many they are.
//!
//! A request queues its create and then waits for its turn to write; whoever gets the turn
//! writes everything queued (its own create, or nothing if an earlier turn took it). The batch
//! runs in a task of its own, so a client that hangs up cannot abort a transaction carrying
//! other clients' creates. Uniqueness is the database's: the insert skips rows whose userName
//! the tenant already has (`ON CONFLICT DO NOTHING`, also against other replicas), and those
//! creates answer 409. Any other failure replays the batch one create per transaction, so each
//! gets its own answer.

use std::collections::HashSet;
use std::sync::Mutex;

use sea_orm::{DbBackend, DbErr, EntityTrait, QueryTrait, TryInsertResult};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::change_log::Change;
use super::entity::users;
use super::inline::InlineWriter;
use super::users::{created_change, created_user, user_name_taken};
use super::{Store, error};
use crate::domain::{Actor, DomainError, User, UserData};

/// At most this many creates per transaction: 13 bound values each stays far below every
/// backend's limit on parameters per statement.
const MAX_BATCH: usize = 256;

/// Creates waiting to be written, and the turn to write them.
#[derive(Default)]
pub(crate) struct CreateQueue {
    pending: Mutex<Vec<PendingCreate>>,
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CreateQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateQueue").finish_non_exhaustive()
    }
}

struct PendingCreate {
    actor: Actor,
    data: UserData,
    row: users::ActiveModel,
    answer: oneshot::Sender<Result<User, DomainError>>,
}

impl CreateQueue {
    fn push(&self, create: PendingCreate) {
        self.pending().push(create);
    }

    /// The oldest queued creates, at most a batch; the rest wait for the next turn.
    fn take(&self) -> Vec<PendingCreate> {
        let mut pending = self.pending();
        let taken = pending.len().min(MAX_BATCH);
        let rest = pending.split_off(taken);
        std::mem::replace(&mut *pending, rest)
    }

    /// The queue. Nothing panics while holding the lock, but if something ever did, the queue
    /// itself is still whole, and refusing it would leave queued creates unanswered forever.
    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<PendingCreate>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store {
    /// Queues a create, takes a turn to write, and waits for the create's answer.
    pub(crate) async fn queue_create(
        &self,
        actor: &Actor,
        data: UserData,
        row: users::ActiveModel,
    ) -> Result<User, DomainError> {
        let (answer, mut answered) = oneshot::channel();
        self.creates.push(PendingCreate {
            actor: actor.clone(),
            data,
            row,
            answer,
        });
        loop {
            let turn = self.creates.turn.lock().await;
            let batch = self.creates.take();
            if !batch.is_empty() {
                let store = self.clone();
                let written = tokio::spawn(async move { store.write_creates(batch).await });
                let _ = written.await;
            }
            drop(turn);
            // Ours was in this batch or an earlier one, unless more than a batch was queued
            // ahead of it: then it is still queued and the next turn writes it.
            match answered.try_recv() {
                Ok(answer) => return answer,
                Err(oneshot::error::TryRecvError::Empty) => continue,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(DomainError::Internal(
                        "the batch writing this create stopped before it finished".into(),
                    ));
                }
            }
        }
    }

    /// Writes a batch in one transaction and answers every create in it.
    async fn write_creates(&self, batch: Vec<PendingCreate>) {
        match self.insert_batch(&batch).await {
            Ok(stored) => {
                for (create, stored) in batch.into_iter().zip(stored) {
                    let answer = match stored {
                        true => created_user(create.row),
                        false => Err(user_name_taken(&create.data)),
                    };
                    let _ = create.answer.send(answer);
                }
            }
            Err(_) => {
                for create in batch {
                    let answer = self
                        .create_user_alone(&create.actor, &create.data, create.row)
                        .await;
                    let _ = create.answer.send(answer);
                }
            }
        }
    }

    /// Inserts the batch's users, skipping userNames the tenant already has, and the change-log
    /// entries of those inserted; says for each create whether it was stored. On the inline
    /// writer; when that fails (another process holds SQLite's lock, or SQLite refused),
    /// through sqlx, which waits for the lock and reports a failure as every other write does.
    async fn insert_batch(&self, batch: &[PendingCreate]) -> Result<Vec<bool>, DomainError> {
        if let Some(inline) = &self.inline {
            match self.insert_batch_inline(&inline.writer, batch).await {
                Ok(stored) => return Ok(stored),
                Err(e) => tracing::debug!(error = %e, "writing the batch through sqlx instead"),
            }
        }
        let transaction = self.write().await?;
        let inserted = users_insert(batch)
            .exec_with_returning_keys(&transaction)
            .await
            .map_err(error::classify)?;
        let inserted: HashSet<Uuid> = match inserted {
            TryInsertResult::Inserted(ids) => ids.into_iter().collect(),
            TryInsertResult::Empty | TryInsertResult::Conflicted => HashSet::new(),
        };
        let stored = stored(batch, &inserted);
        let changes = self.changes_of(batch, &stored)?;
        if !changes.is_empty() {
            self.record_changes(&transaction, changes).await?;
        }
        transaction.commit().await.map_err(error::classify)?;
        Ok(stored)
    }

    /// `insert_batch` on the inline writer.
    async fn insert_batch_inline(
        &self,
        writer: &InlineWriter,
        batch: &[PendingCreate],
    ) -> Result<Vec<bool>, DbErr> {
        let mut returning = users_insert(batch).into_query();
        returning.returning_col(users::Column::Id);
        let returning = DbBackend::Sqlite.build(&returning);
        writer
            .transaction(|transaction| {
                let inserted: Vec<InsertedUser> = transaction.rows(&returning)?;
                let inserted = inserted.into_iter().map(|row| row.id).collect();
                let stored = stored(batch, &inserted);
                let changes = self
                    .changes_of(batch, &stored)
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
                if !changes.is_empty() {
                    transaction.execute(&self.change_rows(changes).build(DbBackend::Sqlite))?;
                }
                Ok(stored)
            })
            .await
    }

    /// The change-log entries of the creates stored.
    fn changes_of<'a>(
        &self,
        batch: &'a [PendingCreate],
        stored: &[bool],
    ) -> Result<Vec<(&'a Actor, Change)>, DomainError> {
        batch
            .iter()
            .zip(stored)
            .filter(|(_, stored)| **stored)
            .map(|(create, _)| Ok((&create.actor, created_change(&create.row, &create.data)?)))
            .collect()
    }
}

/// The insert of the batch's users, skipping (not failing on) a userName the tenant has.
fn users_insert(batch: &[PendingCreate]) -> sea_orm::TryInsert<users::ActiveModel> {
    users::Entity::insert_many(batch.iter().map(|c| c.row.clone()))
        .on_conflict_do_nothing_on([users::Column::TenantId, users::Column::UserNameKey])
}

/// A row the batch's INSERT … RETURNING gives back.
#[derive(serde::Deserialize)]
struct InsertedUser {
    id: Uuid,
}

/// For each create of the batch, whether its user is among those inserted.
fn stored(batch: &[PendingCreate], inserted: &HashSet<Uuid>) -> Vec<bool> {
    batch
        .iter()
        .map(|c| {
            c.row
                .id
                .clone()
                .take()
                .is_some_and(|id| inserted.contains(&id))
        })
        .collect()
}
