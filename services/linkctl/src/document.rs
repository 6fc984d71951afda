//! `linkctl document …`: put a document before the event that refers to
//! it, get one an event refers to, and (operators) list what waits and
//! collect what nothing refers to.

use clap::Subcommand;
use linkage_core::pb;
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::document_service_client::DocumentServiceClient;
use std::io::Write;
use std::path::PathBuf;

/// Bytes per message of a put: well under the node's 1 MiB.
const PIECE_BYTES: usize = 256 * 1024;

/// Documents beside the log.
#[derive(Subcommand, Debug)]
pub enum DocumentCommand {
    /// Stream a file in; prints its root, for `--document` on the event that refers to it.
    Put {
        /// The file
        file: PathBuf,
        /// Its name as events show it (default: the file's name)
        #[arg(long)]
        name: Option<String>,
        /// Media type
        #[arg(long, default_value = "application/octet-stream")]
        media_type: String,
    },
    /// Write a document an event held by the node refers to.
    Get {
        /// The document's root, 64 hex digits
        root: String,
        /// Where to write it ("-": standard output)
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Documents events held by the node refer to, and which still wait (operator).
    List {
        /// Only those not held whole
        #[arg(long)]
        waiting: bool,
    },
    /// Free the space of documents no event refers to (operator).
    Collect {
        /// Only those put more than this many seconds ago (default: one day)
        #[arg(long)]
        older_than_seconds: Option<u64>,
    },
}

/// `linkctl document …`.
pub async fn run(addr: &str, json: bool, command: DocumentCommand) -> anyhow::Result<()> {
    let channel = crate::client::connect(addr).await?;
    match command {
        DocumentCommand::Put { file, name, media_type } => {
            let bytes = std::fs::read(&file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let name =
                name.unwrap_or_else(|| file.file_name().map_or_else(String::new, |n| n.to_string_lossy().into()));
            let header = pb::DocumentHeader { name, media_type, size: bytes.len() as u64 };
            let mut messages =
                vec![pb::PutDocumentRequest { part: Some(pb::put_document_request::Part::Header(header)) }];
            messages.extend(
                bytes
                    .chunks(PIECE_BYTES)
                    .map(|c| pb::PutDocumentRequest { part: Some(pb::put_document_request::Part::Data(c.to_vec())) }),
            );
            let mut client = DocumentServiceClient::new(channel).max_encoding_message_size(2 << 20);
            let doc =
                client.put_document(tokio_stream::iter(messages)).await?.into_inner().document.unwrap_or_default();
            if json {
                println!("{}", serde_json::json!({"root": hex::encode(&doc.root), "size": doc.size, "name": doc.name}));
            } else {
                println!("{}", hex::encode(&doc.root));
            }
        }
        DocumentCommand::Get { root, output } => {
            let mut client = DocumentServiceClient::new(channel).max_decoding_message_size(2 << 20);
            let mut stream = client.get_document(pb::GetDocumentRequest { root }).await?.into_inner();
            let mut out: Box<dyn Write> = if output.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(std::fs::File::create(&output).map_err(|e| anyhow::anyhow!("{}: {e}", output.display()))?)
            };
            let mut written = 0u64;
            let mut size = None;
            while let Some(message) = stream.message().await? {
                if let Some(doc) = message.document {
                    size = Some(doc.size);
                }
                out.write_all(&message.data)?;
                written += message.data.len() as u64;
            }
            out.flush()?;
            anyhow::ensure!(size == Some(written), "the node sent {written} bytes of {size:?}: incomplete");
        }
        DocumentCommand::List { waiting } => {
            let mut client = AdminServiceClient::new(channel);
            let r = client.list_documents(pb::ListDocumentsRequest { waiting_only: waiting }).await?.into_inner();
            if json {
                crate::json::print(&r, "linkage.v1.ListDocumentsResponse")?;
                return Ok(());
            }
            println!("used {} of {} bytes ({} per origin)", r.used_bytes, r.quota_bytes, r.per_origin_quota_bytes);
            for d in r.documents {
                println!(
                    "{}  {:<9} {:>3}/{:<3} chunks  {:>10} bytes  {}  from {}  {}",
                    &d.root[..16],
                    d.state,
                    d.chunks_held,
                    d.chunks,
                    d.size,
                    d.name,
                    d.origin,
                    d.reason
                );
            }
        }
        DocumentCommand::Collect { older_than_seconds } => {
            let mut client = AdminServiceClient::new(channel);
            let r = client.collect_documents(pb::CollectDocumentsRequest { older_than_seconds }).await?.into_inner();
            println!("collected {} documents, {} bytes", r.documents, r.bytes);
        }
    }
    Ok(())
}
