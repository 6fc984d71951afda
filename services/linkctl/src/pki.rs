//! `linkctl pki`: the province's CA and the offices' keys. A key is made
//! where it will be used (`request`); the province signs requests
//! (`sign`) with a CA key that never leaves its machine (`init-ca`).

use anyhow::Context;
use linkage_pki::{Authority, Validity};
use std::path::PathBuf;

/// The certificate commands.
#[derive(clap::Subcommand)]
pub enum PkiCommand {
    /// Create the province's CA in DIR (ca.crt to hand out, ca.key to keep).
    InitCa {
        /// Directory for ca.crt and ca.key (0600); refused if it holds a CA.
        #[arg(long)]
        dir: PathBuf,
        /// The CA's name (its common name).
        #[arg(long, default_value = "linkage province CA")]
        name: String,
        /// Days the CA certificate is valid.
        #[arg(long, default_value_t = linkage_pki::authority::AUTHORITY_DAYS)]
        days: u32,
    },
    /// Make a key and a signing request here: OUT/PRINCIPAL.key (0600,
    /// stays here) and OUT/PRINCIPAL.csr (send it to the province).
    Request {
        /// Who the certificate names: a node's code, or a platform's or
        /// an operator's name (A-Z a-z 0-9 - _ . @ :).
        #[arg(long)]
        principal: String,
        /// A host name or address the holder serves on (repeat; none for
        /// a client only).
        #[arg(long)]
        host: Vec<String>,
        /// Directory for the key and the request.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a request with the CA in CA_DIR; print the certificate (PEM).
    Sign {
        /// Directory holding ca.crt and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The principal you checked the request is for; a request naming
        /// another is refused.
        #[arg(long)]
        principal: String,
        /// The signing request (PEM), as `linkctl pki request` wrote it.
        csr: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = linkage_pki::authority::CERTIFICATE_DAYS)]
        days: u32,
        /// A host name or address you grant the certificate (repeat, or
        /// comma-separated): every one the request asks for must be here.
        /// Without any, the certificate is a client's only.
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Vec<String>,
    },
}

/// Runs one command.
pub fn run(command: PkiCommand) -> anyhow::Result<()> {
    match command {
        PkiCommand::InitCa { dir, name, days } => {
            Authority::create(&name, Validity::days(days))?.save(&dir)?;
            println!(
                "wrote {} (hand out) and {} (keep here)",
                dir.join("ca.crt").display(),
                dir.join("ca.key").display()
            );
        }
        PkiCommand::Request { principal, host, out } => {
            let (key, csr) = linkage_pki::request(&principal, &host)?;
            let key_path = out.join(format!("{principal}.key"));
            anyhow::ensure!(!key_path.exists(), "{} exists: a new request would replace the key", key_path.display());
            linkage_pki::write_private(&key_path, key.as_bytes())?;
            let csr_path = out.join(format!("{principal}.csr"));
            std::fs::write(&csr_path, csr).with_context(|| format!("writing {}", csr_path.display()))?;
            println!("wrote {} (keep here) and {} (send to the province)", key_path.display(), csr_path.display());
        }
        PkiCommand::Sign { ca_dir, principal, csr, days, hosts } => {
            anyhow::ensure!((1..=3650).contains(&days), "--days must be 1..=3650, got {days}");
            let ca = Authority::load(&ca_dir)?;
            let text = std::fs::read_to_string(&csr).with_context(|| format!("reading {}", csr.display()))?;
            let cert = ca
                .sign(&text, &principal, &hosts, Validity::days(days))
                .with_context(|| format!("{}", csr.display()))?;
            eprintln!("signed a certificate for principal {principal}, valid {days} days");
            print!("{cert}");
        }
    }
    Ok(())
}
