//! Group commit for user creates on SQLite. An IdP's first cycle sends thousands of creates at once; one
//! transaction each makes every create wait for its own BEGIN, INSERT, change-log INSERT and
//! COMMIT on the single SQLite writer, where each statement is a round trip to the connection's
//! thread. Creates that queue up while a batch is being written are instead written by the next
//! batch in one transaction of four statements, however many they are.
//!
//! A request queues its create and then waits for either its answer or the turn to write.
//! Whoever gets the turn hands it to a task that writes what is queued, batch after batch,
//! until the queue is empty, while the request goes on waiting for its own answer (which the
//! first batch carries). The writing runs in a task of its own, so a client that hangs up
//! cannot abort a transaction carrying other clients' creates. Uniqueness is the database's:
//! the insert skips rows whose userName the tenant already has (`ON CONFLICT DO NOTHING`, also
//! against other replicas), and those creates answer 409. Any other failure replays the batch
//! one create per transaction, so each gets its own answer.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sea_orm::{DbBackend, DbErr, EntityTrait, QueryTrait, TryInsertResult};
use tokio::sync::{OwnedMutexGuard, oneshot};
use uuid::Uuid;

use super::change_log::Change;
use super::entity::users;
use super::inline::WriteTurn;
use super::users::{created_change, created_user, user_name_taken};
use super::{Store, error};
use crate::domain::{Actor, DomainError, User, UserData};

/// At most this many creates per transaction: 13 bound values each stays far below every
/// backend's limit on parameters per statement.
const MAX_BATCH: usize = 256;

/// How long the inline writer keeps sqlx's writer connection while creates keep coming: about
/// forty batches, against one ping to give it back and take it again.
const WRITER_HELD: std::time::Duration = std::time::Duration::from_millis(10);

/// Creates waiting to be written, and the turn to write them.
#[derive(Default)]
pub(crate) struct CreateQueue {
    pending: Mutex<Vec<PendingCreate>>,
    turn: Arc<tokio::sync::Mutex<()>>,
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
            // The answer first: once the turn is free again, the creates it took are answered.
            tokio::select! {
                biased;
                answer = &mut answered => {
                    return answer.unwrap_or_else(|_| {
                        Err(DomainError::Internal(
                            "the batch writing this create stopped before it finished".into(),
                        ))
                    });
                }
                turn = self.creates.turn.clone().lock_owned() => {
                    // Empty: an earlier turn took this create, and its answer is in.
                    // Shutdown waits for the writing task without holding its handle: requests
                    // in flight wait for their answers, and `Store::close` for sqlx's writer
                    // connection, which the task holds while it writes.
                    if !self.creates.pending().is_empty() {
                        let store = self.clone();
                        tokio::spawn(async move { store.write_queued(turn).await });
                    }
                }
            }
        }
    }

    /// Holding the turn, writes what is queued a batch at a time until the queue is empty,
    /// and answers every create. On SQLite the inline writer keeps its turn across the
    /// batches; a batch it cannot write (another process holds SQLite's lock, or SQLite
    /// refused) and everything after it goes through sqlx.
    async fn write_queued(&self, _turn: OwnedMutexGuard<()>) {
        let mut batch = self.creates.take();
        if let Some(inline) = &self.inline {
            'turns: while !batch.is_empty() {
                let turn = match inline.writer.turn().await {
                    Ok(turn) => turn,
                    Err(e) => {
                        tracing::debug!(error = %e, "writing the batch through sqlx instead");
                        break;
                    }
                };
                // Creates may keep coming for the whole of an IdP's first cycle; every other
                // write of the process waits for sqlx's writer meanwhile, so the turn goes
                // back (behind those waiting for it) after a while.
                let taken = tokio::time::Instant::now();
                while !batch.is_empty() && taken.elapsed() < WRITER_HELD {
                    match self.insert_batch_inline(&turn, &batch) {
                        Ok(stored) => answer(batch, stored),
                        Err(e) => {
                            tracing::debug!(error = %e, "writing the batch through sqlx instead");
                            break 'turns;
                        }
                    }
                    // Lets the requests on this thread run (and queue more creates).
                    tokio::task::yield_now().await;
                    batch = self.creates.take();
                }
            }
        }
        while !batch.is_empty() {
            self.write_creates(batch).await;
            batch = self.creates.take();
        }
    }

    /// Writes a batch in one transaction through sqlx and answers every create in it.
    async fn write_creates(&self, batch: Vec<PendingCreate>) {
        match self.insert_batch(&batch).await {
            Ok(stored) => answer(batch, stored),
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

    /// Inserts the batch's users through sqlx, skipping userNames the tenant already has, and
    /// the change-log entries of those inserted; says for each create whether it was stored.
    async fn insert_batch(&self, batch: &[PendingCreate]) -> Result<Vec<bool>, DomainError> {
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
    fn insert_batch_inline(
        &self,
        turn: &WriteTurn<'_>,
        batch: &[PendingCreate],
    ) -> Result<Vec<bool>, DbErr> {
        let mut returning = users_insert(batch).into_query();
        returning.returning_col(users::Column::Id);
        let returning = DbBackend::Sqlite.build(&returning);
        turn.transaction(|transaction| {
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

/// Answers each create of a batch written: its user, or 409 when the userName was taken.
fn answer(batch: Vec<PendingCreate>, stored: Vec<bool>) {
    for (create, stored) in batch.into_iter().zip(stored) {
        let answer = match stored {
            true => created_user(create.row),
            false => Err(user_name_taken(&create.data)),
        };
        let _ = create.answer.send(answer);
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
