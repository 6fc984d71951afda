//! Tasks a figure spawns, stopped with it.

/// A spawned task that is aborted when its handle goes out of scope, so
/// that a failing figure leaves nothing running behind it.
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
