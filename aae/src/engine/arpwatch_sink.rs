//! Tells ARPwatch about leases: `arpwatch.lease_seen` / `arpwatch.lease_gone`
//! through arpwatch-rpc's keep-alive client, one `system.multicall` per batch
//! or a few single calls in parallel, as `arpwatch-multicall` and what
//! ARPwatch serves decide (`multicall.rs`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arpwatch_rpc::client::{Client, ClientConfig, ClientError};
use arpwatch_rpc::contract::{ArpwatchNotice, LIST_METHODS};
use arpwatch_rpc::{Fault, MethodCall};
use lease_model::{Lease, LeaseRecord};
use tokio::task::JoinSet;

use super::health::RateLimit;
use super::multicall::{Choice, Plan, RECHECK_EVERY, Verdict, lists_multicall};
use super::queue::{Outcome, Sink};
use super::sink::{Sent, SinkIo};
use crate::config::Config;
use crate::messages::{AAE_ARPWATCH_FAULT, AAE_ARPWATCH_MULTICALL, Log};

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
    /// Shared by every worker's sink.
    multicall: Arc<Choice>,
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

    /// The multicall decision every worker's sink shares.
    pub fn multicall_choice(config: &Config) -> Arc<Choice> {
        Arc::new(Choice::new(config.arpwatch_multicall))
    }

    /// Checks the URL only; nothing is connected until the first send. The
    /// TLS files and credentials were read with the parameters.
    pub fn new(
        url: &str,
        config: &Config,
        multicall: Arc<Choice>,
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
            multicall,
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

    /// Logs a decision about multicall when it is news.
    fn learned(&self, verdict: Verdict) {
        if !self.multicall.learned(&verdict, Instant::now()) {
            return;
        }
        let url = self.client.url();
        match verdict {
            Verdict::Serves => self.log.emit(
                AAE_ARPWATCH_MULTICALL,
                format_args!(
                    "ARPwatch at {url} serves system.multicall: notices go in batches of up \
                     to {MULTICALL_BATCH} per request"
                ),
            ),
            Verdict::Refuses(why) => self.log.emit(
                AAE_ARPWATCH_MULTICALL,
                format_args!(
                    "ARPwatch at {url} does not serve system.multicall ({why}): notices are \
                     sent one call each from now on, those of the refused request again; \
                     multicall is tried again after ARPwatch was unreachable and every {} min",
                    RECHECK_EVERY.as_secs() / 60
                ),
            ),
        }
    }

    /// First contact, or a fallback due for a check: `system.listMethods`
    /// can rule multicall out at the cost of one small request; a server
    /// without introspection only tells by how it answers a multicall.
    async fn probe(&self, batch: &[Lease]) -> Sent {
        match self
            .client
            .call(&MethodCall::new(LIST_METHODS, vec![]))
            .await
        {
            Ok(names) if lists_multicall(&names) == Some(false) => {
                self.learned(Verdict::Refuses(
                    "its system.listMethods does not list it".into(),
                ));
                self.send_each(batch).await
            }
            Err(e) if e.is_transient() => Sent::failed(batch.len(), e),
            _ => self.send_multicall(batch).await,
        }
    }

    async fn send_multicall(&self, batch: &[Lease]) -> Sent {
        let calls: Vec<MethodCall> = batch.iter().map(|l| self.call_for(l)).collect();
        let responses = match self.client.multicall(&calls).await {
            Ok(r) => {
                self.learned(Verdict::Serves);
                r
            }
            // An answer, but not to a multicall (a fault for the request as a
            // whole, or not one result per call): a server without
            // system.multicall. Python's answers fault 1, not -32601.
            Err(e @ (ClientError::Fault { .. } | ClientError::BadMulticall { .. }))
                if self.multicall.may_fall_back() =>
            {
                self.learned(Verdict::Refuses(e.to_string()));
                // Nothing of this request counts as sent: every notice goes
                // again, in single calls, with the next batches.
                return requeue(batch.len());
            }
            Err(e @ (ClientError::Fault { .. } | ClientError::BadMulticall { .. })) => {
                return Sent::failed(
                    batch.len(),
                    format_args!(
                        "{e}; if this ARPwatch does not serve system.multicall, set \
                         'arpwatch-multicall' to \"auto\" (the default) or false"
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
            stale: 0,
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

    /// Up to [`PARALLEL_CALLS`] single calls at once; the rest of a larger
    /// batch (taken while multicall was still the plan) goes back to the
    /// queue as not sent.
    async fn send_each(&self, batch: &[Lease]) -> Sent {
        let now = batch.len().min(PARALLEL_CALLS);
        let mut calls = JoinSet::new();
        for (i, lease) in batch[..now].iter().enumerate() {
            let (client, call) = (self.client.clone(), self.call_for(lease));
            calls.spawn(async move { (i, client.call(&call).await) });
        }
        let mut sent = requeue(batch.len());
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
        if sent.failure.is_none() && sent.outcomes[..now].contains(&Outcome::Retry) {
            sent.failure = Some("a notice task ended without an answer".into());
        }
        sent
    }
}

impl SinkIo for ArpwatchSink {
    const SINK: Sink = Sink::Arpwatch;

    fn batch_size(&self) -> usize {
        match self.multicall.plan(Instant::now()) {
            Plan::Multicall | Plan::Probe => MULTICALL_BATCH,
            Plan::Single => PARALLEL_CALLS,
        }
    }

    async fn send(&mut self, batch: &[Lease]) -> Sent {
        let send = async {
            match self.multicall.plan(Instant::now()) {
                Plan::Multicall => self.send_multicall(batch).await,
                Plan::Probe => self.probe(batch).await,
                Plan::Single => self.send_each(batch).await,
            }
        };
        let sent = match tokio::time::timeout(self.deadline, send).await {
            Ok(sent) => sent,
            Err(_) => Sent::failed(
                batch.len(),
                format_args!(
                    "{} did not answer within {:?}",
                    self.client.url(),
                    self.deadline
                ),
            ),
        };
        if sent.failure.is_some() {
            self.multicall.unreachable();
        }
        sent
    }
}

/// Nothing sent yet: every lease goes back to the queue unless marked done,
/// with no failure (so no backoff).
fn requeue(len: usize) -> Sent {
    Sent {
        forgotten: Vec::new(),
        outcomes: vec![Outcome::Retry; len],
        exported: 0,
        skipped: 0,
        stale: 0,
        failure: None,
    }
}
