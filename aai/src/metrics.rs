//! Counters for `GET /metrics`, in the Prometheus text exposition format.
//!
//! Every label set is known at compile time (the served methods, the fault
//! codes, the refusal reasons), so each series is one atomic in a fixed
//! array: recording is a relaxed `fetch_add`, never a lock or an allocation
//! on the request path, and rendering needs no registry.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use arpwatch_rpc::fault_code;

/// Method label values; anything not served is counted as `other` so a
/// client cannot grow the label set.
const METHODS: [&str; 7] = [
    "arpwatch.get_mac",
    "arpwatch.get_lease",
    "system.listMethods",
    "system.methodHelp",
    "system.methodSignature",
    "system.multicall",
    "other",
];

/// A method's row in the call counters; see [`Metrics::method_id`].
#[derive(Clone, Copy, Debug)]
pub struct MethodId(usize);

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A value other than nil.
    Ok,
    /// nil: no lease for the address.
    Nil,
    Fault,
}
const OUTCOMES: [&str; 3] = ["ok", "nil", "fault"];

const FAULT_CODES: [i32; 6] = [
    fault_code::PARSE_ERROR,
    fault_code::INVALID_REQUEST,
    fault_code::METHOD_NOT_FOUND,
    fault_code::INVALID_PARAMS,
    fault_code::INTERNAL_ERROR,
    fault_code::STORE_UNAVAILABLE,
];

/// HTTP requests refused before any XML-RPC processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Forbidden,
    TooLarge,
    BodyTimeout,
    MethodNotAllowed,
    NotFound,
    /// No or wrong basic credentials (`credentials-file`).
    Unauthorized,
    /// The TLS handshake failed (a bad or missing client certificate, a
    /// protocol error, the client left); the connection is closed.
    TlsHandshake,
    /// The TLS handshake did not finish within `header-timeout-ms`.
    TlsTimeout,
    /// Plain HTTP sent to a TLS listener; answered 400 in plain HTTP.
    NotTls,
}
const REFUSALS: [(&str, &str); 9] = [
    ("forbidden", "403"),
    ("too_large", "413"),
    ("body_timeout", "408"),
    ("method_not_allowed", "405"),
    ("not_found", "404"),
    ("unauthorized", "401"),
    ("tls_handshake", "none"),
    ("tls_timeout", "none"),
    ("not_tls", "400"),
];

/// Upper bounds of the latency buckets, in microseconds: from a loopback
/// round trip (~50 µs) to the largest sensible timeout.
const BUCKETS_US: [u64; 13] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// A latency histogram over [`BUCKETS_US`] (plus `+Inf`).
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; 14],
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let b = BUCKETS_US
            .iter()
            .position(|&le| us <= le)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[b].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn write(&self, o: &mut String, name: &str, help: &str) -> std::fmt::Result {
        writeln!(o, "# HELP {name} {help}")?;
        writeln!(o, "# TYPE {name} histogram")?;
        let mut cum = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            cum += c.load(Relaxed);
            match BUCKETS_US.get(i) {
                Some(&le) => writeln!(o, "{name}_bucket{{le=\"{}\"}} {cum}", le as f64 / 1e6)?,
                None => writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {cum}")?,
            }
        }
        writeln!(o, "{name}_sum {}", self.sum_us.load(Relaxed) as f64 / 1e6)?;
        writeln!(o, "{name}_count {cum}")
    }
}

/// All of aai's metrics. One instance is shared by every connection.
#[derive(Default)]
pub struct Metrics {
    calls: [[AtomicU64; 3]; 7],
    faults: [AtomicU64; 7],
    refusals: [AtomicU64; REFUSALS.len()],
    redis: Histogram,
    requests: Histogram,
    redis_errors: AtomicU64,
    in_flight: AtomicI64,
    connections_open: AtomicI64,
    connections_total: AtomicU64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one call to `method` (as the client spelled it) ending in `outcome`.
    pub fn call(&self, method: &str, outcome: Outcome) {
        self.call_id(self.method_id(method), outcome);
    }

    /// The series index for a method name, so a caller can take it before
    /// the name is moved away.
    pub fn method_id(&self, method: &str) -> MethodId {
        MethodId(
            METHODS[..METHODS.len() - 1]
                .iter()
                .position(|&n| n == method)
                .unwrap_or(METHODS.len() - 1),
        )
    }

    pub fn call_id(&self, method: MethodId, outcome: Outcome) {
        self.calls[method.0][outcome as usize].fetch_add(1, Relaxed);
    }

    pub fn fault(&self, code: i32) {
        let i = FAULT_CODES.iter().position(|&c| c == code).unwrap_or(6);
        self.faults[i].fetch_add(1, Relaxed);
    }

    pub fn refusal(&self, r: Refusal) {
        self.refusals[r as usize].fetch_add(1, Relaxed);
    }

    /// Records one Redis round trip; `ok` is false when it failed or timed out.
    pub fn redis(&self, took: Duration, ok: bool) {
        self.redis.observe(took);
        if !ok {
            self.redis_errors.fetch_add(1, Relaxed);
        }
    }

    /// Records how long aai took to answer one XML-RPC request, from a
    /// complete body to a complete response document.
    pub fn request(&self, took: Duration) {
        self.requests.observe(took);
    }

    /// Marks an XML-RPC request in progress until the guard drops.
    pub fn in_flight(&self) -> Gauge<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        Gauge(&self.in_flight)
    }

    /// Marks a connection open until the guard drops.
    pub fn connection(&self) -> Gauge<'_> {
        self.connections_total.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
        Gauge(&self.connections_open)
    }

    /// The exposition text (format version 0.0.4).
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        let _ = self.write(&mut o);
        o
    }

    fn write(&self, o: &mut String) -> std::fmt::Result {
        writeln!(
            o,
            "# HELP aai_calls_total XML-RPC calls by method and outcome (ok, nil = no lease, fault); calls inside system.multicall are counted too."
        )?;
        writeln!(o, "# TYPE aai_calls_total counter")?;
        for (m, row) in METHODS.iter().zip(&self.calls) {
            for (out, c) in OUTCOMES.iter().zip(row) {
                writeln!(
                    o,
                    "aai_calls_total{{method=\"{m}\",outcome=\"{out}\"}} {}",
                    c.load(Relaxed)
                )?;
            }
        }
        writeln!(
            o,
            "# HELP aai_faults_total XML-RPC faults sent, by fault code."
        )?;
        writeln!(o, "# TYPE aai_faults_total counter")?;
        for (i, c) in self.faults.iter().enumerate() {
            let code = FAULT_CODES
                .get(i)
                .map_or_else(|| "other".to_owned(), i32::to_string);
            writeln!(o, "aai_faults_total{{code=\"{code}\"}} {}", c.load(Relaxed))?;
        }
        writeln!(
            o,
            "# HELP aai_http_refused_total HTTP requests (and TLS handshakes, status \"none\") refused before XML-RPC processing, by reason."
        )?;
        writeln!(o, "# TYPE aai_http_refused_total counter")?;
        for ((reason, status), c) in REFUSALS.iter().zip(&self.refusals) {
            writeln!(
                o,
                "aai_http_refused_total{{reason=\"{reason}\",status=\"{status}\"}} {}",
                c.load(Relaxed)
            )?;
        }
        self.requests.write(
            o,
            "aai_rpc_duration_seconds",
            "Time to answer an XML-RPC request once its body is in: parsing, Redis, writing the response.",
        )?;
        self.redis.write(
            o,
            "aai_redis_request_duration_seconds",
            "Redis round trips (one GET per lookup, PING for /health), failed ones included.",
        )?;
        writeln!(
            o,
            "# HELP aai_redis_errors_total Redis round trips that failed or timed out."
        )?;
        writeln!(o, "# TYPE aai_redis_errors_total counter")?;
        writeln!(
            o,
            "aai_redis_errors_total {}",
            self.redis_errors.load(Relaxed)
        )?;
        writeln!(
            o,
            "# HELP aai_requests_in_flight XML-RPC requests being processed now."
        )?;
        writeln!(o, "# TYPE aai_requests_in_flight gauge")?;
        writeln!(o, "aai_requests_in_flight {}", self.in_flight.load(Relaxed))?;
        writeln!(
            o,
            "# HELP aai_connections_open Client connections open now."
        )?;
        writeln!(o, "# TYPE aai_connections_open gauge")?;
        writeln!(
            o,
            "aai_connections_open {}",
            self.connections_open.load(Relaxed)
        )?;
        writeln!(
            o,
            "# HELP aai_connections_total Client connections accepted."
        )?;
        writeln!(o, "# TYPE aai_connections_total counter")?;
        writeln!(
            o,
            "aai_connections_total {}",
            self.connections_total.load(Relaxed)
        )
    }
}

/// Decrements its gauge when dropped, so an early return or a cancelled
/// future cannot leak a count.
pub struct Gauge<'a>(&'a AtomicI64);

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// The Redis the lookups go to, in the exposition format: the failovers
/// followed (a counter), and the primary now as an info-style gauge.
pub fn redis_status(status: &redis_endpoint::Status) -> String {
    let mut o = String::new();
    o.push_str(
        "# HELP aai_redis_failovers_total New primaries of the Sentinel service that aai found and moved to.\n\
         # TYPE aai_redis_failovers_total counter\n",
    );
    o.push_str(&format!("aai_redis_failovers_total {}\n", status.failovers));
    if let Some(p) = &status.primary {
        o.push_str(
            "# HELP aai_redis_primary The Redis primary now (1 for the one named).\n\
             # TYPE aai_redis_primary gauge\n",
        );
        o.push_str(&format!(
            "aai_redis_primary{{addr=\"{}\"}} 1\n",
            p.replace(['\\', '"', '\n'], "_")
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let m = Metrics::new();
        m.call("arpwatch.get_mac", Outcome::Ok);
        m.call("arpwatch.get_mac", Outcome::Nil);
        m.call("bogus", Outcome::Fault);
        m.fault(-32601);
        m.fault(12345);
        m.refusal(Refusal::TooLarge);
        m.refusal(Refusal::Unauthorized);
        m.refusal(Refusal::TlsHandshake);
        m.redis(Duration::from_micros(80), true);
        m.redis(Duration::from_secs(3), false);
        m.request(Duration::from_micros(300));
        let g = m.in_flight();
        let text = m.render();
        drop(g);
        for line in [
            "aai_calls_total{method=\"arpwatch.get_mac\",outcome=\"ok\"} 1",
            "aai_calls_total{method=\"arpwatch.get_mac\",outcome=\"nil\"} 1",
            "aai_calls_total{method=\"other\",outcome=\"fault\"} 1",
            "aai_faults_total{code=\"-32601\"} 1",
            "aai_faults_total{code=\"other\"} 1",
            "aai_http_refused_total{reason=\"too_large\",status=\"413\"} 1",
            "aai_http_refused_total{reason=\"unauthorized\",status=\"401\"} 1",
            "aai_http_refused_total{reason=\"tls_handshake\",status=\"none\"} 1",
            "aai_http_refused_total{reason=\"not_tls\",status=\"400\"} 0",
            "aai_redis_request_duration_seconds_bucket{le=\"0.0001\"} 1",
            "aai_redis_request_duration_seconds_bucket{le=\"1\"} 1",
            "aai_redis_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "aai_redis_request_duration_seconds_count 2",
            "aai_redis_errors_total 1",
            "aai_rpc_duration_seconds_bucket{le=\"0.00025\"} 0",
            "aai_rpc_duration_seconds_bucket{le=\"0.0005\"} 1",
            "aai_rpc_duration_seconds_count 1",
            "aai_requests_in_flight 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(m.render().contains("aai_requests_in_flight 0"));
    }
}
