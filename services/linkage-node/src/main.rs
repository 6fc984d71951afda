//! `linkage-node`: runs one committee's node.

/// sled allocates and frees a node copy on nearly every insert, often on
/// another thread than the one that allocated it; glibc's malloc spent
/// half of the index thread's time there (perf, catch-up). mimalloc
/// does the same work in a fraction of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use linkage_node::config::{Cli, Config, LogFormat};

fn init_logs(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// SIGTERM and SIGINT, caught from the moment this is made: one that
/// comes before `recv` waits for it instead of killing the process.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// While the node starts (the store's recovery blocks the main thread),
/// says that a first signal was heard and waits, and makes a second one
/// stop the process at once: what was acknowledged is durable, and the
/// next start recovers whatever else.
async fn signals_during_start_up(mut signals: StopSignals) {
    let first = signals.recv().await;
    tracing::warn!(signal = first, "stopping once started; send it again to stop at once");
    let second = signals.recv().await;
    tracing::warn!(signal = second, "stopping during start-up, without the orderly stop");
    std::process::exit(if second == "SIGINT" { 130 } else { 143 })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Caught before the node writes grpc.addr or answers a health check:
    // whoever stops it as soon as it is up (a test, `deploy/local/down`,
    // systemd during a slow start) gets the orderly stop and exit 0, not
    // death by the signal's default action.
    let mut stop = StopSignals::install()?;
    // SIGHUP too, from the start: one during a long recovery waits for the
    // node to serve, instead of killing it by the default action.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let config = Config::load(cli.config.as_deref(), &cli.overrides)?;
    init_logs(&config);
    // Listening already when this returns, not once the task first runs.
    let starting = tokio::spawn(signals_during_start_up(StopSignals::install()?));
    linkage_pki::install_provider();
    let running = linkage_node::server::start(&config).await?;
    starting.abort();
    // SIGHUP: certificates and the allow-list again, from the same
    // file, environment and flags.
    let signal = loop {
        tokio::select! {
            signal = stop.recv() => break signal,
            _ = hangup.recv() => {
                let reloaded = Config::load(cli.config.as_deref(), &cli.overrides).and_then(|c| running.reload(&c));
                if let Err(e) = reloaded {
                    tracing::error!("SIGHUP: nothing reloaded: {e:#}");
                }
            }
        }
    };
    tracing::info!(signal, "shutting down");
    running.stop(config.shutdown_grace).await
}
