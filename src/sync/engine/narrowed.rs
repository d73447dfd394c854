//! A narrowed run's planning (see `sync::narrow`): the target read into summaries while each
//! resource's link is recorded, the store compared with them page by page, and only what
//! differs named and read again.

use uuid::Uuid;

use super::{
    Mode, Phases, Planned, Reconciler, Report, SyncError, cannot_keep, cannot_read,
    cannot_read_store,
};
use crate::domain::Tenant;
use crate::domain::sync::{LinkRef, TargetLink};
use crate::store::LINK_LOOKUP;
use crate::sync::narrow::ObservedIndex;
use crate::sync::plan::plan_within;
use crate::sync::target::Target;

impl Reconciler {
    /// Plans while holding only a summary of each entry (see `sync::narrow`): the target is
    /// read first and summarised as it streams, then each desired entry is compared with its
    /// summary as the store's pages are mapped, and only what differs is kept and read again
    /// in full. A no-change run of 100,000 users then holds summaries, not entries. `Err` is
    /// why the run could not plan.
    pub(super) async fn plan_narrowed(
        &self,
        tenant: &Tenant,
        target: &dyn Target,
        report: &mut Report,
        phase: &mut Phases,
    ) -> Result<Planned, SyncError> {
        let name = target.name();
        let mut index = match ObservedIndex::new() {
            Ok(index) => index,
            Err(e) => return Ok(Err(cannot_keep(e))),
        };
        if let Err(why) = self.summarise(tenant, target, &mut index).await? {
            return Ok(Err(why));
        }
        phase.end("read_target", report);
        // The links just recorded are the managed entries just read, so an entry's recorded
        // anchor finds the entry its marker finds: the marker alone matches (a property test
        // in `sync::narrow` checks it), and no map of 100,000 links is built.
        // An apply maps its creates again as it makes them (`deferred`); a plan shows them.
        let mut narrowing = match index.narrow(report.mode == Mode::Apply) {
            Ok(narrowing) => narrowing,
            Err(e) => return Ok(Err(cannot_keep(e))),
        };
        // The first failure to keep what was considered (the scratch file); the rest are
        // skipped and the run fails.
        let mut considered = Ok(());
        let mapped = self
            .map_store(tenant, target, &mut |entry| {
                if considered.is_ok() {
                    considered = narrowing.consider(entry);
                }
            })
            .await;
        if let Err(e) = mapped {
            return Ok(Err(cannot_read_store(e)));
        }
        let unnamed = match considered.and_then(|()| narrowing.finish()) {
            Ok(unnamed) => unnamed,
            Err(e) => return Ok(Err(cannot_keep(e))),
        };
        let linked: Vec<(&str, Uuid)> = unnamed
            .linked()
            .into_iter()
            .map(|(kind, id)| (kind.as_str(), id))
            .collect();
        let links = self.store.links_of(tenant.id, name, &linked).await?;
        let mut narrowed = match unnamed.name(&links) {
            Ok(narrowed) => narrowed,
            Err(why) => return Ok(Err(why)),
        };
        phase.end("read_store", report);
        let fresh = match target
            .observe_again(tenant, &narrowed.to_read_again())
            .await
        {
            Ok(fresh) => fresh,
            Err(e) => return Ok(Err(cannot_read(name, e))),
        };
        let observed = narrowed.observed(fresh);
        phase.end("read_target", report);
        let plan = plan_within(narrowed.desired, &observed, &[], &narrowed.context);
        Ok(Ok((plan, narrowed.deferred)))
    }

    /// Reads the target into `index`, recording each resource's link in the store as the read
    /// streams: the index hands over the link as it reads the entry, and the links are
    /// compared with the store's a lookup at a time while the read goes on, so neither side
    /// holds them all. Only a complete read writes what differs and drops the links of
    /// entries it did not see (see `LinkRecording`). The outer error is the store's; the inner
    /// one why the run stops: the target could not be read, or the summaries not kept.
    async fn summarise(
        &self,
        tenant: &Tenant,
        target: &dyn Target,
        index: &mut ObservedIndex,
    ) -> Result<Result<(), String>, SyncError> {
        let mut recording = self.store.record_links(tenant.id, target.name())?;
        // The channel closes when the read ends.
        let (links, mut arriving) = tokio::sync::mpsc::unbounded_channel::<TargetLink>();
        // The first failure to keep a summary (the scratch file); the rest of the read is
        // skipped over and the run fails.
        let mut kept = Ok(());
        let read = async {
            let links = links;
            target
                .observe_each(tenant, &mut |entry| {
                    if kept.is_err() {
                        return;
                    }
                    match index.push(entry) {
                        Ok(Some(link)) => {
                            let _ = links.send(link);
                        }
                        Ok(None) => {}
                        Err(e) => kept = Err(e),
                    }
                })
                .await
        };
        let record = async {
            let mut batch = Vec::with_capacity(LINK_LOOKUP);
            let mut recorded = Ok(());
            loop {
                // Whole lookups: the read hands links over one at a time, and a query per
                // handful would be thousands of round trips.
                let wanted = LINK_LOOKUP - batch.len();
                let closed = arriving.recv_many(&mut batch, wanted).await == 0;
                if batch.len() < LINK_LOOKUP && !closed {
                    continue;
                }
                // After a failure the rest is only drained: the run fails anyway.
                if recorded.is_ok() && !batch.is_empty() {
                    let refs: Vec<LinkRef<'_>> = batch.iter().map(TargetLink::borrowed).collect();
                    recorded = recording.record(&refs).await;
                }
                batch.clear();
                if closed {
                    return recorded;
                }
            }
        };
        let (read, recorded) = tokio::join!(read, record);
        if let Err(e) = kept {
            return Ok(Err(cannot_keep(e)));
        }
        if let Err(e) = read {
            return Ok(Err(cannot_read(target.name(), e)));
        }
        recorded?;
        recording.finish().await?;
        Ok(Ok(()))
    }
}
