//! Tells ARPwatch about leases: `arpwatch.lease_seen` / `arpwatch.lease_gone`
//! through arpwatch-rpc's keep-alive client, one `system.multicall` per batch
//! when `arpwatch-multicall` is set, otherwise a few calls in parallel.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arpwatch_rpc::client::{Client, ClientConfig, ClientError};
use arpwatch_rpc::contract::ArpwatchNotice;
use arpwatch_rpc::{Fault, MethodCall};
use lease_model::{Lease, LeaseRecord};
use tokio::task::JoinSet;

use super::health::RateLimit;
use super::queue::{Outcome, Sink};
use super::sink::{Sent, SinkIo};
use crate::config::Config;
use crate::messages::{AAE_ARPWATCH_FAULT, Log};

/// Notices per `system.multicall` request.
const MULTICALL_BATCH: usize = 128;
/// Notices in flight at once per worker without multicall, each on its own
/// kept-alive connection.
const PARALLEL_CALLS: usize = 8;

/// Faults are ARPwatch refusing one notice for good: log them, but not one
/// line per lease.
const FAULT_LOG_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct ArpwatchSink {
    client: Client,
    node: String,
    multicall: bool,
    /// Bounds a whole send, in case a call outlives the client's own timeout.
    deadline: Duration,
    /// Shared by every worker's sink.
    fault_log: Arc<Mutex<RateLimit>>,
    log: Log,
}

impl ArpwatchSink {
    /// The fault-log limiter every worker's sink shares.
    pub fn fault_log() -> Arc<Mutex<RateLimit>> {
        Arc::new(Mutex::new(RateLimit::new(FAULT_LOG_EVERY)))
    }

    /// Checks the URL only; nothing is connected until the first send. The
    /// TLS files and credentials were read with the parameters.
    pub fn new(
        url: &str,
        config: &Config,
        fault_log: Arc<Mutex<RateLimit>>,
        log: Log,
    ) -> Result<ArpwatchSink, ClientError> {
        let client_config = ClientConfig {
            connect_timeout: config.arpwatch_timeout,
            request_timeout: config.arpwatch_timeout,
            tls: config.arpwatch_tls.clone(),
            credentials: config.arpwatch_credentials.clone(),
            ..ClientConfig::default()
        };
        Ok(ArpwatchSink {
            client: Client::new(url, client_config)?,
            node: config.node_name.clone(),
            multicall: config.arpwatch_multicall,
            deadline: config.arpwatch_timeout * 2 + Duration::from_secs(1),
            fault_log,
            log,
        })
    }

    fn call_for(&self, lease: &Lease) -> MethodCall {
        ArpwatchNotice::for_record(LeaseRecord {
            lease: Lease::clone(lease),
            node: self.node.clone(),
        })
        .to_call()
    }

    fn log_fault(&self, lease: &Lease, fault: &Fault) {
        let allowed = self
            .fault_log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(Instant::now());
        if let Some(suppressed) = allowed {
            self.log.emit(
                AAE_ARPWATCH_FAULT,
                format_args!(
                    "ARPwatch at {} refused the notice for {} ({}): {fault} \
                     ({suppressed} faults since the last line like this)",
                    self.client.url(),
                    lease.ip,
                    lease.hwaddr,
                ),
            );
        }
    }

    async fn send_multicall(&self, batch: &[Lease]) -> Sent {
        let calls: Vec<MethodCall> = batch.iter().map(|l| self.call_for(l)).collect();
        let responses = match self.client.multicall(&calls).await {
            Ok(r) => r,
            // A fault for the request as a whole: most likely a server
            // without system.multicall. Say how to fix it; keep the notices.
            Err(e @ ClientError::Fault { .. }) => {
                return Sent::failed(
                    batch.len(),
                    format_args!(
                        "{e}; if this ARPwatch does not support system.multicall, \
                         set 'arpwatch-multicall' to false"
                    ),
                );
            }
            // Whatever else went wrong, a later try may work (ARPwatch back,
            // URL or server fixed): keep the notices.
            Err(e) => return Sent::failed(batch.len(), e),
        };
        let mut sent = Sent {
            forgotten: Vec::new(),
            outcomes: vec![Outcome::Done; batch.len()],
            exported: 0,
            skipped: 0,
            failure: None,
        };
        for (lease, response) in batch.iter().zip(&responses) {
            match response {
                Ok(_) => sent.exported += 1,
                Err(fault) => {
                    self.log_fault(lease, fault);
                    sent.skipped += 1;
                }
            }
        }
        sent
    }

    async fn send_each(&self, batch: &[Lease]) -> Sent {
        let mut calls = JoinSet::new();
        for (i, lease) in batch.iter().enumerate() {
            let (client, call) = (self.client.clone(), self.call_for(lease));
            calls.spawn(async move { (i, client.call(&call).await) });
        }
        let mut sent = Sent {
            forgotten: Vec::new(),
            outcomes: vec![Outcome::Retry; batch.len()],
            exported: 0,
            skipped: 0,
            failure: None,
        };
        // Dropping the JoinSet (on cancel) aborts the calls still running.
        while let Some(joined) = calls.join_next().await {
            let Ok((i, result)) = joined else {
                continue;
            };
            match result {
                Ok(_) => {
                    sent.outcomes[i] = Outcome::Done;
                    sent.exported += 1;
                }
                Err(ClientError::Fault { fault, .. }) => {
                    self.log_fault(&batch[i], &fault);
                    sent.outcomes[i] = Outcome::Done;
                    sent.skipped += 1;
                }
                Err(e) => sent.failure = Some(e.to_string()),
            }
        }
        if sent.failure.is_none() && sent.outcomes.contains(&Outcome::Retry) {
            sent.failure = Some("a notice task ended without an answer".into());
        }
        sent
    }
}

impl SinkIo for ArpwatchSink {
    const SINK: Sink = Sink::Arpwatch;

    fn batch_size(&self) -> usize {
        if self.multicall {
            MULTICALL_BATCH
        } else {
            PARALLEL_CALLS
        }
    }

    async fn send(&mut self, batch: &[Lease]) -> Sent {
        let send = async {
            if self.multicall {
                self.send_multicall(batch).await
            } else {
                self.send_each(batch).await
            }
        };
        match tokio::time::timeout(self.deadline, send).await {
            Ok(sent) => sent,
            Err(_) => Sent::failed(
                batch.len(),
                format_args!(
                    "{} did not answer within {:?}",
                    self.client.url(),
                    self.deadline
                ),
            ),
        }
    }
}
