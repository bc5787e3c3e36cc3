//! The run's end of the X2/X3 confirmation barrier (see `x2x3::confirm`): the encoding
//! stage reports each barrier it has passed (every record before it appended to the
//! spools); this thread makes the spools durable (the spools' group commit, the same
//! `fdatasync` their senders run) and then releases the keepalive acks waiting on it.
//! A sync that fails releases nothing: the POIs keep their PDUs and resend them.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use crate::delivery::Queues;
use crate::x2x3::Barriers;

/// The thread and the encoding stage's way to it.
pub struct Durable {
    pub passed: Sender<u64>,
    pub thread: JoinHandle<()>,
}

/// Starts the thread; it ends when every [`Durable::passed`] sender is dropped.
pub fn start(queues: Queues, barriers: Arc<Barriers>) -> std::io::Result<Durable> {
    let (passed, reports) = crossbeam_channel::unbounded::<u64>();
    let thread = std::thread::Builder::new().name("tl-x2x3-durable".into()).spawn(move || {
        while let Ok(first) = reports.recv() {
            // Reports queued meanwhile are covered by the same sync.
            let upto = reports.try_iter().fold(first, u64::max);
            match queues.iter().flatten().try_for_each(|q| q.make_durable()) {
                Ok(()) => barriers.durable(upto),
                Err(e) => tracing::error!(error = %e, "spool sync failed: X2/X3 keepalives stay unacknowledged"),
            }
        }
    })?;
    Ok(Durable { passed, thread })
}
