//! Documents beside the log: which documents the events held here refer
//! to (an index that follows the durable log from behind), fetching the
//! missing ones from holders in verified chunks ([`fetch`]), and serving
//! chunks to requesters entitled to an event that refers to them
//! ([`serve`]).
//!
//! Architecture invariant: documents never hold up the log. The index
//! follows the log after commit; a full quota, a missing holder or a
//! corrupt chunk leaves a document waiting and says so, while its events
//! are stored, folded and relayed as ever.

mod fetch;
mod serve;

use crate::transport::{Transport, TransportError};
use linkage_core::documents::{self, chunk_count, root_hex};
use linkage_core::subjects::Subjects;
use linkage_core::{pb, Channel, NodeCode, Topology};
use linkage_store::blobs::{BlobError, Blobs, Quota};
use linkage_store::Store;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// Bytes fetched from holders (verified and stored).
pub const BYTES_FETCHED: &str = "linkage_document_bytes_fetched_total";
/// Chunks a holder served that did not verify.
pub const CHUNKS_CORRUPT: &str = "linkage_document_chunks_corrupt_total";
/// Chunks served to requesters.
pub const CHUNKS_SERVED: &str = "linkage_document_chunks_served_total";
/// Chunk requests refused, by reason.
pub const CHUNKS_REFUSED: &str = "linkage_document_chunks_refused_total";
/// Documents not held whole, by state (`fetching`, `quota`, `no_holder`).
pub const WAITING: &str = "linkage_documents_waiting";
/// Bytes reserved in the blob store.
pub const BYTES_USED: &str = "linkage_document_bytes_used";

/// Events that refer to one document that the index keeps: enough to
/// find an entitled one and its holders, bounded against a flood.
pub const REFERRERS_MAX: usize = 16;

/// Referring events of one origin the index keeps per document.
pub const REFERRERS_PER_ORIGIN_MAX: usize = 2;

/// Documents `ListDocuments` shows at most, those not held first.
pub const LISTED_MAX: usize = 1_000;

/// How long the index lets commits gather before it reads them.
pub const FOLLOW_DELAY: Duration = Duration::from_millis(100);

/// How often the index's cursor is written when no document was found.
pub const CURSOR_SAVE_INTERVAL: Duration = Duration::from_secs(5);

/// How long `CollectDocuments` waits for the index to reach the log.
pub const COLLECT_WAIT_MAX: Duration = Duration::from_secs(10);

/// The limits of documents on one node.
#[derive(Clone, Debug)]
pub struct DocumentsConfig {
    /// Disk quota in total and per origin.
    pub quota: Quota,
    /// Bytes of chunks asked for and not yet stored, at most.
    pub in_flight_bytes: u64,
    /// Fetch rate limit in bytes per second; 0: none. A county on a thin
    /// line keeps its uplink for events.
    pub fetch_bytes_per_second: u64,
    /// How long one chunk request waits for its holder.
    pub request_timeout: Duration,
    /// How often waiting documents are tried again.
    pub retry_interval: Duration,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        DocumentsConfig {
            quota: Quota { total_bytes: 20 << 30, per_origin_bytes: 4 << 30 },
            in_flight_bytes: 1 << 20,
            fetch_bytes_per_second: 0,
            request_timeout: Duration::from_secs(5),
            retry_interval: Duration::from_secs(2),
        }
    }
}

/// Where a document stands here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Every chunk is held.
    Held,
    /// Chunks are on their way.
    Fetching,
    /// Waiting for space; the reason names the quota.
    Quota(String),
    /// No holder answered for some chunk yet.
    NoHolder(String),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Held => "held",
            State::Fetching => "fetching",
            State::Quota(_) => "quota",
            State::NoHolder(_) => "no_holder",
        }
    }
}

/// One document events held here refer to.
#[derive(Clone, Debug)]
struct Entry {
    doc: pb::DocumentRef,
    /// (origin, channel) of events that refer to it, first seen first.
    referrers: Vec<(NodeCode, Channel)>,
    state: State,
    /// Tries that no holder served, in a row.
    failures: u32,
    /// Not tried again before this.
    next_try: Option<tokio::time::Instant>,
}

/// Who may read what: the replicator's entitlement (which knows groups).
pub type Entitlement = Arc<dyn Fn(NodeCode, NodeCode, &Channel) -> bool + Send + Sync>;

struct Inner {
    me: NodeCode,
    topology: Arc<Topology>,
    subjects: Subjects,
    store: Store,
    blobs: Arc<Mutex<Blobs>>,
    dir: PathBuf,
    config: DocumentsConfig,
    index: Mutex<BTreeMap<[u8; 32], Entry>>,
    peers: OnceLock<(Arc<dyn Transport>, Entitlement)>,
    wake: tokio::sync::Notify,
    /// The log position the index has reached.
    indexed: std::sync::atomic::AtomicU64,
    /// When the next chunk may be asked for under the rate limit.
    next_slot: Mutex<tokio::time::Instant>,
    shutdown: CancellationToken,
}

/// The documents of one node. Cheap to clone.
#[derive(Clone)]
pub struct Documents {
    inner: Arc<Inner>,
}

/// Why a document cannot be had here.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// No event held here refers to it, nor was it put here.
    #[error("no event held here refers to document {0}")]
    NotFound(String),
    /// Its bytes are not all here yet.
    #[error("document {root} is not held whole yet: {held} of {chunks} chunks ({state})")]
    Waiting {
        /// The root, hex.
        root: String,
        /// Chunks held.
        held: usize,
        /// Chunks in all.
        chunks: usize,
        /// Why.
        state: String,
    },
    /// The index has not read the whole log yet.
    #[error("the documents' index is still reading the log; try again shortly")]
    Behind,
    /// The blob store refused.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl Documents {
    /// Opens the blob store in `dir` and starts following the log.
    pub fn open(
        me: NodeCode,
        topology: Arc<Topology>,
        store: Store,
        dir: &Path,
        config: DocumentsConfig,
        shutdown: CancellationToken,
    ) -> Result<Documents, BlobError> {
        let blobs = Blobs::open(dir, config.quota)?;
        let inner = Arc::new(Inner {
            me,
            subjects: Subjects,
            topology,
            store,
            blobs: Arc::new(Mutex::new(blobs)),
            dir: dir.to_path_buf(),
            config,
            index: Mutex::new(BTreeMap::new()),
            peers: OnceLock::new(),
            wake: tokio::sync::Notify::new(),
            next_slot: Mutex::new(tokio::time::Instant::now()),
            indexed: std::sync::atomic::AtomicU64::new(0),
            shutdown,
        });
        let documents = Documents { inner };
        let cursor = documents.load_index();
        documents.inner.indexed.store(cursor, std::sync::atomic::Ordering::Release);
        tokio::spawn(documents.clone().follow(cursor));
        tokio::spawn(documents.clone().fetch_loop());
        Ok(documents)
    }

    /// Fetches from and serves to peers over `transport` from now on.
    pub async fn connect(&self, transport: Arc<dyn Transport>, entitled: Entitlement) -> Result<(), TransportError> {
        let incoming = transport.subscribe(self.inner.subjects.doc_requests(self.inner.me)).await?;
        if self.inner.peers.set((transport, entitled)).is_err() {
            return Err(TransportError::Other("documents are connected already".into()));
        }
        tokio::spawn(self.clone().serve(incoming));
        self.inner.wake.notify_one();
        Ok(())
    }

    /// The blob store, for puts and reads.
    pub fn blobs(&self) -> Arc<Mutex<Blobs>> {
        self.inner.blobs.clone()
    }

    /// The reference of a document a client of this node may read: one
    /// an event held here refers to, or one put here. Held whole, or the
    /// error says how far it is.
    pub fn readable(&self, root: &[u8; 32]) -> Result<pb::DocumentRef, DocumentError> {
        let entry = self.inner.index.lock().expect("index lock").get(root).cloned();
        let blobs = self.inner.blobs.lock().expect("blobs lock");
        let doc = match entry {
            Some(entry) => entry.doc,
            None => match blobs.stored_ref(root)? {
                Some(doc) if blobs.origin_of(root).as_deref() == Some(self.inner.me.as_str()) => doc,
                _ => return Err(DocumentError::NotFound(hex::encode(root))),
            },
        };
        let missing = blobs.missing(&doc)?.len();
        if missing > 0 {
            let state = self.state_of(root).map_or_else(|| "waiting".to_string(), |s| describe(&s));
            let chunks = chunk_count(doc.size);
            return Err(DocumentError::Waiting { root: root_hex(&doc), held: chunks - missing, chunks, state });
        }
        Ok(doc)
    }

    fn state_of(&self, root: &[u8; 32]) -> Option<State> {
        self.inner.index.lock().expect("index lock").get(root).map(|e| e.state.clone())
    }

    /// Every document events held here refer to, with its state.
    pub fn list(&self, waiting_only: bool) -> pb::ListDocumentsResponse {
        let mut entries: Vec<([u8; 32], Entry)> = self
            .inner
            .index
            .lock()
            .expect("index lock")
            .iter()
            .filter(|(_, e)| !waiting_only || e.state != State::Held)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        entries.sort_by_key(|(_, e)| e.state == State::Held);
        let more = entries.len().saturating_sub(LISTED_MAX) as u32;
        entries.truncate(LISTED_MAX);
        let blobs = self.inner.blobs.lock().expect("blobs lock");
        let documents = entries
            .into_iter()
            .map(|(root, e)| {
                let chunks = chunk_count(e.doc.size);
                let held = chunks - blobs.missing(&e.doc).map_or(chunks, |m| m.len());
                pb::DocumentStatus {
                    root: hex::encode(root),
                    name: e.doc.name.clone(),
                    size: e.doc.size,
                    origin: e.referrers.first().map(|(o, _)| o.to_string()).unwrap_or_default(),
                    chunks: chunks as u32,
                    chunks_held: held as u32,
                    state: e.state.name().to_string(),
                    reason: match &e.state {
                        State::Quota(why) | State::NoHolder(why) => why.clone(),
                        _ => String::new(),
                    },
                }
            })
            .collect();
        let quota = blobs.quota();
        pb::ListDocumentsResponse {
            documents,
            used_bytes: blobs.used("").0,
            quota_bytes: quota.total_bytes,
            per_origin_quota_bytes: quota.per_origin_bytes,
            more,
        }
    }

    /// Removes the documents no event held here refers to, reserved more
    /// than `older_than` ago; wakes the fetcher, which may now have room.
    pub async fn collect(&self, older_than: Duration) -> Result<(u32, u64), DocumentError> {
        // Only once the index has read every event stored so far: a
        // document whose event was just appended is referred to.
        let target = self.inner.store.last_position();
        let deadline = tokio::time::Instant::now() + COLLECT_WAIT_MAX;
        while self.inner.indexed.load(std::sync::atomic::Ordering::Acquire) < target {
            if tokio::time::Instant::now() >= deadline {
                return Err(DocumentError::Behind);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let referred: Vec<String> = self.inner.index.lock().expect("index lock").keys().map(hex::encode).collect();
        let now = SystemTime::now();
        let mut blobs = self.inner.blobs.lock().expect("blobs lock");
        let (mut count, mut bytes) = (0, 0);
        for (root, size, _, when) in blobs.list() {
            let old = now.duration_since(when).unwrap_or_default() >= older_than;
            if old && !referred.contains(&root) {
                blobs.remove_root(&root)?;
                count += 1;
                bytes += size;
            }
        }
        drop(blobs);
        self.publish_gauges();
        self.inner.wake.notify_one();
        Ok((count, bytes))
    }

    /// Updates `linkage_documents_waiting` and the bytes used.
    fn publish_gauges(&self) {
        let mut counts: BTreeMap<&str, u64> = [("fetching", 0), ("quota", 0), ("no_holder", 0)].into();
        for e in self.inner.index.lock().expect("index lock").values() {
            if let Some(n) = counts.get_mut(e.state.name()) {
                *n += 1;
            }
        }
        for (state, n) in counts {
            metrics::gauge!(WAITING, "state" => state).set(n as f64);
        }
        let used = self.inner.blobs.lock().expect("blobs lock").used("").0;
        metrics::gauge!(BYTES_USED).set(used as f64);
    }

    // ---- the index -----------------------------------------------------

    fn index_path(&self) -> PathBuf {
        self.inner.dir.join("index")
    }

    fn cursor_path(&self) -> PathBuf {
        self.inner.dir.join("cursor")
    }

    /// Reads the positions of the events with documents found so far and
    /// where the follower stopped; returns where to go on from.
    fn load_index(&self) -> u64 {
        let text = std::fs::read_to_string(self.index_path()).unwrap_or_default();
        for position in text.lines().filter_map(|l| l.trim().parse::<u64>().ok()) {
            if let Ok(Some(stored)) = self.inner.store.get_position(position) {
                self.take_in(&stored.raw);
            }
        }
        let cursor = std::fs::read_to_string(self.cursor_path()).ok().and_then(|t| t.trim().parse().ok());
        // Never past the log: a store restored afresh starts again.
        cursor.unwrap_or(0).min(self.inner.store.last_position())
    }

    /// Adds the documents of one stored event to the index; whether it
    /// had any.
    fn take_in(&self, raw: &[u8]) -> bool {
        let Ok(peek) = linkage_core::wire::peek(raw) else { return false };
        if !peek.kind.is_some_and(|k| documents::KINDS.contains(&k)) {
            return false;
        }
        let Ok(parsed) = linkage_core::verify::parse(raw) else { return false };
        let Some(kind) = parsed.event.payload.as_ref().and_then(|p| p.kind.as_ref()) else { return false };
        let docs = documents::usable(kind);
        let mut index = self.inner.index.lock().expect("index lock");
        for doc in &docs {
            let root: [u8; 32] = doc.root.as_slice().try_into().expect("checked: 32 bytes");
            let entry = index.entry(root).or_insert_with(|| Entry {
                doc: (*doc).clone(),
                referrers: Vec::new(),
                state: State::Fetching,
                failures: 0,
                next_try: None,
            });
            let referrer = (parsed.origin, parsed.channel.clone());
            // A few per origin: one office's many events cannot crowd out
            // the others' (whose entitlement and holders they carry).
            let of_origin = entry.referrers.iter().filter(|(o, _)| *o == parsed.origin).count();
            if entry.referrers.len() < REFERRERS_MAX
                && of_origin < REFERRERS_PER_ORIGIN_MAX
                && !entry.referrers.contains(&referrer)
            {
                entry.referrers.push(referrer);
            }
        }
        !docs.is_empty()
    }

    /// Follows the durable log from `cursor` on, indexing documents.
    async fn follow(self, mut cursor: u64) {
        let mut position = self.inner.store.watch_position();
        let mut saved_at = tokio::time::Instant::now();
        loop {
            let page = match self.inner.store.read_positions(cursor + 1, 512) {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "documents: reading the log");
                    Vec::new()
                }
            };
            if page.is_empty() {
                tokio::select! {
                    _ = self.inner.shutdown.cancelled() => return,
                    changed = position.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                // Many commits in one read: documents wait a moment, the
                // writer's threads are not woken for every commit.
                tokio::select! {
                    _ = self.inner.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(FOLLOW_DELAY) => {}
                }
                continue;
            }
            let mut found = Vec::new();
            for stored in &page {
                if self.take_in(&stored.raw) {
                    found.push(stored.position);
                }
            }
            let last = page.last().map_or(cursor, |s| s.position);
            // The cursor moves only once the positions found are durable:
            // a reference is never skipped for good. A failed save reads
            // the page again (adding nothing twice) after a pause. A page
            // without documents writes the cursor at most every
            // CURSOR_SAVE_INTERVAL: a file renamed per commit would cost
            // the log's disk (a restart reads at most that much again).
            let due = !found.is_empty() || saved_at.elapsed() >= CURSOR_SAVE_INTERVAL;
            if let Err(e) = if due { self.save(&found, last) } else { Ok(()) } {
                tracing::warn!(error = %e, "documents: saving the index; reading the page again");
                tokio::select! {
                    _ = self.inner.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            cursor = last;
            if due {
                saved_at = tokio::time::Instant::now();
            }
            self.inner.indexed.store(cursor, std::sync::atomic::Ordering::Release);
            if !found.is_empty() {
                self.inner.wake.notify_one();
            }
        }
    }

    /// Appends `found` to the index file, synced before the cursor moves
    /// past them; the cursor itself may go back in a crash (the log is
    /// read again, which adds nothing twice).
    fn save(&self, found: &[u64], cursor: u64) -> std::io::Result<()> {
        if !found.is_empty() {
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(self.index_path())?;
            let lines: String = found.iter().map(|p| format!("{p}\n")).collect();
            file.write_all(lines.as_bytes())?;
            file.sync_data()?;
        }
        let tmp = self.cursor_path().with_extension("tmp");
        std::fs::write(&tmp, format!("{cursor}\n"))?;
        std::fs::rename(tmp, self.cursor_path())
    }
}

fn describe(state: &State) -> String {
    match state {
        State::Quota(why) => format!("waiting for space: {why}"),
        State::NoHolder(why) => format!("no holder has answered: {why}"),
        other => other.name().to_string(),
    }
}
