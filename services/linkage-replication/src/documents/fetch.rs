//! Fetching the documents events held here refer to: chunk by chunk from
//! any holder, each chunk verified as it arrives, within the bytes in
//! flight and the rate the node allows, resuming from the blob store's
//! bitmap after a restart.

use super::{Documents, Entitlement, Entry, State, BYTES_FETCHED, CHUNKS_CORRUPT};
use crate::transport::Transport;
use futures::StreamExt;
use linkage_core::documents::{chunk_verifies, root_hex, CHUNK_BYTES};
use linkage_core::{pb, NodeCode};
use linkage_store::blobs::BlobError;
use prost::Message;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest wait before a document no holder served is tried again.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Holders asked for one document, at most.
pub const HOLDERS_MAX: usize = 8;

/// Outcome of one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Got {
    Stored,
    NoHolder,
    Stopped,
    /// The first chunk could not take its space.
    Quota,
}

impl Documents {
    /// Tries every waiting document, then waits to be woken (a new
    /// document, space freed) or for the retry interval.
    pub(super) async fn fetch_loop(self) {
        loop {
            self.fetch_round().await;
            self.publish_gauges();
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(self.inner.config.retry_interval) => {}
            }
        }
    }

    fn set_state(&self, root: &[u8; 32], state: State) {
        if let Some(entry) = self.inner.index.lock().expect("index lock").get_mut(root) {
            entry.state = state;
        }
    }

    async fn fetch_round(&self) {
        let now = tokio::time::Instant::now();
        let waiting: Vec<([u8; 32], Entry)> = self
            .inner
            .index
            .lock()
            .expect("index lock")
            .iter()
            .filter(|(_, e)| e.state != State::Held && e.next_try.is_none_or(|t| t <= now))
            .map(|(r, e)| (*r, e.clone()))
            .collect();
        for (root, entry) in waiting {
            if self.inner.shutdown.is_cancelled() {
                return;
            }
            // Space is taken when the first chunk verifies (`store`); a
            // document that cannot fit waits without asking anyone.
            let blobs = self.inner.blobs.clone();
            let doc = entry.doc.clone();
            let origin = entry.referrers.first().map(|(o, _)| o.to_string()).unwrap_or_default();
            let fits = tokio::task::spawn_blocking(move || {
                let blobs = blobs.lock().expect("blobs lock");
                if blobs.complete(&doc)? {
                    return Ok(true);
                }
                if blobs.origin_of(&root).is_none() {
                    blobs.would_fit(doc.size, &origin)?;
                }
                Ok(false)
            })
            .await
            .unwrap_or_else(|e| Err(BlobError::Io(std::io::Error::other(e.to_string()))));
            let state = match fits {
                Ok(true) => State::Held,
                Err(e @ BlobError::Quota { .. }) => State::Quota(e.to_string()),
                Err(e) => {
                    tracing::warn!(root = %root_hex(&entry.doc), error = %e, "documents: the blob store failed");
                    State::NoHolder(e.to_string())
                }
                Ok(false) => match self.inner.peers.get() {
                    None => State::NoHolder("not connected to NATS".into()),
                    Some((transport, entitled)) => {
                        self.set_state(&root, State::Fetching);
                        self.fetch_one(&entry, transport.clone(), entitled).await
                    }
                },
            };
            self.settle(&root, state);
        }
    }

    /// Records where a document stands after a try; one that no holder
    /// served is tried again later and later (up to [`BACKOFF_MAX`]), so
    /// that documents nobody serves cost little and do not hold up others.
    fn settle(&self, root: &[u8; 32], state: State) {
        let mut index = self.inner.index.lock().expect("index lock");
        let Some(entry) = index.get_mut(root) else { return };
        match &state {
            State::NoHolder(_) => {
                entry.failures = entry.failures.saturating_add(1);
                let wait = self.inner.config.retry_interval.saturating_mul(1 << entry.failures.min(8)).min(BACKOFF_MAX);
                entry.next_try = Some(tokio::time::Instant::now() + wait);
            }
            _ => {
                entry.failures = 0;
                entry.next_try = None;
            }
        }
        entry.state = state;
    }

    /// Nodes that may hold the document: each referring event's origin,
    /// the levels above it, this node's parent levels and children, the
    /// nodes of a chain — those entitled to the event, in that order.
    fn holders(&self, entry: &Entry, entitled: &Entitlement) -> Vec<NodeCode> {
        let topology = &self.inner.topology;
        let me = self.inner.me;
        let mut out = Vec::new();
        for (origin, channel) in &entry.referrers {
            let mut candidates = vec![*origin];
            candidates.extend(topology.ancestors(*origin));
            if let linkage_core::Channel::Chain(code) = channel {
                candidates.push(*code);
                candidates.extend(topology.ancestors(*code));
            }
            candidates.extend(topology.ancestors(me));
            candidates.extend(topology.children(me).iter().copied());
            for c in candidates {
                if c != me && !out.contains(&c) && entitled(c, *origin, channel) {
                    out.push(c);
                }
            }
        }
        out.truncate(HOLDERS_MAX);
        out
    }

    /// Fetches the missing chunks of one document; what it came to.
    async fn fetch_one(&self, entry: &Entry, transport: Arc<dyn Transport>, entitled: &Entitlement) -> State {
        let holders = self.holders(entry, entitled);
        let root = root_hex(&entry.doc);
        if holders.is_empty() {
            return State::NoHolder("no node entitled to its events to ask".into());
        }
        let blobs = self.inner.blobs.clone();
        let doc = entry.doc.clone();
        let missing = match tokio::task::spawn_blocking(move || blobs.lock().expect("blobs lock").missing(&doc)).await {
            Ok(Ok(missing)) => missing,
            Ok(Err(e)) => return State::NoHolder(e.to_string()),
            Err(e) => return State::NoHolder(e.to_string()),
        };
        let origin = entry.referrers.first().map(|(o, _)| o.to_string()).unwrap_or_default();
        let origin = origin.as_str();
        let at_once = (self.inner.config.in_flight_bytes / u64::from(CHUNK_BYTES)).max(1) as usize;
        let bad = Mutex::new(BTreeSet::new());
        // A chunk no holder has ends this round for the document: the rest
        // would only wait out the same timeouts.
        let gave_up = std::sync::atomic::AtomicBool::new(false);
        let got: Vec<Got> = futures::stream::iter(missing)
            .map(|index| {
                let (gave_up, bad, holders, transport) = (&gave_up, &bad, &holders, &transport);
                async move {
                    if gave_up.load(std::sync::atomic::Ordering::Relaxed) {
                        return Got::NoHolder;
                    }
                    let got = self.fetch_chunk(&entry.doc, index, holders, bad, transport.as_ref(), origin).await;
                    if got == Got::NoHolder {
                        gave_up.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    got
                }
            })
            .buffer_unordered(at_once)
            .collect()
            .await;
        let unfetched = got.iter().filter(|g| **g != Got::Stored).count();
        if got.contains(&Got::Quota) {
            let origin = entry.referrers.first().map(|(o, _)| o.to_string()).unwrap_or_default();
            let why = self.inner.blobs.lock().expect("blobs lock").would_fit(entry.doc.size, &origin);
            return State::Quota(why.err().map_or_else(|| "the quota".to_string(), |e| e.to_string()));
        }
        match unfetched {
            0 => {
                tracing::info!(%root, name = %entry.doc.name, size = entry.doc.size, "document held whole");
                State::Held
            }
            _ if got.contains(&Got::Stopped) => State::Fetching,
            n => State::NoHolder(format!("{n} chunks not fetched: none of {} holders served one", holders.len())),
        }
    }

    /// Waits for this chunk's turn under the rate limit.
    async fn pace(&self, bytes: usize) {
        let rate = self.inner.config.fetch_bytes_per_second;
        if rate == 0 {
            return;
        }
        let slot = {
            let mut next = self.inner.next_slot.lock().expect("pace lock");
            let now = tokio::time::Instant::now();
            let slot = (*next).max(now);
            *next = slot + Duration::from_secs_f64(bytes as f64 / rate as f64);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Asks the holders in turn (starting at one that depends on the
    /// chunk, to spread the load) until one serves chunk `index` and it
    /// verifies. A holder whose chunk does not verify is asked nothing
    /// more for this document.
    async fn fetch_chunk(
        &self,
        doc: &pb::DocumentRef,
        index: usize,
        holders: &[NodeCode],
        bad: &Mutex<BTreeSet<NodeCode>>,
        transport: &dyn Transport,
        origin: &str,
    ) -> Got {
        let len = linkage_core::documents::chunk_span(doc, index).map_or(0, |(_, len)| len);
        let request = pb::DocumentChunkRequest { root: doc.root.clone(), index: index as u32 }.encode_to_vec();
        for attempt in 0..holders.len() {
            let holder = holders[(index + attempt) % holders.len()];
            if bad.lock().expect("bad lock").contains(&holder) {
                continue;
            }
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return Got::Stopped,
                _ = self.pace(len) => {}
            }
            let subject = self.inner.subjects.doc(holder, self.inner.me);
            let answer = tokio::select! {
                _ = self.inner.shutdown.cancelled() => return Got::Stopped,
                a = transport.request(subject, request.clone().into(), self.inner.config.request_timeout) => a,
            };
            let Ok(answer) = answer else { continue };
            let Ok(answer) = pb::DocumentChunkResponse::decode(answer) else { continue };
            if answer.outcome() != pb::document_chunk_response::Outcome::Ok {
                continue;
            }
            if !chunk_verifies(doc, index, &answer.data) {
                metrics::counter!(CHUNKS_CORRUPT).increment(1);
                tracing::warn!(%holder, index, root = %root_hex(doc),
                    "a holder served a chunk that does not verify; asking the others for the rest of this document");
                bad.lock().expect("bad lock").insert(holder);
                continue;
            }
            let blobs = self.inner.blobs.clone();
            let doc = doc.clone();
            let origin = origin.to_string();
            let stored = tokio::task::spawn_blocking(move || {
                let mut blobs = blobs.lock().expect("blobs lock");
                blobs.reserve(&doc, &origin)?;
                blobs.put_chunk(&doc, index, &answer.data).map(|_| answer.data.len())
            })
            .await;
            match stored {
                Ok(Ok(bytes)) => {
                    metrics::counter!(BYTES_FETCHED).increment(bytes as u64);
                    return Got::Stored;
                }
                Ok(Err(BlobError::Quota { .. })) => return Got::Quota,
                Ok(Err(e)) => tracing::warn!(error = %e, index, "documents: storing a chunk"),
                Err(e) => tracing::warn!(error = %e, index, "documents: storing a chunk"),
            }
            return Got::NoHolder;
        }
        Got::NoHolder
    }
}
