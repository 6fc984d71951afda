//! Reaching a node: one place that turns `--addr` into a connection, with
//! errors that say which flag was wrong or which node did not answer.

use anyhow::Context;
use tonic::transport::Channel;

/// A connection to the node at `addr` (`http://127.0.0.1:7700`).
pub async fn connect(addr: &str) -> anyhow::Result<Channel> {
    tonic::transport::Endpoint::from_shared(addr.to_owned())
        .with_context(|| format!("--addr {addr} is not a URL like http://127.0.0.1:7700"))?
        .connect()
        .await
        .with_context(|| format!("cannot reach a node at {addr}"))
}
