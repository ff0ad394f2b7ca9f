//! The async XML-RPC client: aae uses it to notify ARPwatch, tests use it to
//! query aai. The only code in this crate that does I/O.
//!
//! HTTP/1.1 over hyper's pooled client, plain (`http://`) or over TLS
//! (`https://`, rustls with the ring provider; see [`TlsConfig`]):
//! connections are kept alive and reused between calls, every call has a
//! connect timeout and a whole-request timeout, and responses are capped in
//! size before they are parsed. [`Credentials`], when given, go with every
//! request as HTTP basic authentication.
//!
//! ```no_run
//! # async fn demo() -> Result<(), arpwatch_rpc::client::ClientError> {
//! use arpwatch_rpc::client::{Client, ClientConfig};
//! use arpwatch_rpc::{MethodCall, Value};
//!
//! let client = Client::new("http://127.0.0.1:8080/RPC2", ClientConfig::default())?;
//! let mac = client
//!     .call(&MethodCall::new("arpwatch.get_mac", vec![Value::from("192.0.2.1")]))
//!     .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::{HttpConnector, capture_connection};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use thiserror::Error;

use crate::xml::{self, ParseError, WriteError};
use crate::{Fault, Limits, MethodCall, MethodResponse, Value, multicall};

mod tls;

pub use tls::{Credentials, SetupError, TlsConfig};

/// How a [`Client`] behaves on the network. [`ClientConfig::default`] suits a
/// peer on the same LAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Longest wait for the TCP connection to be established. Default 2 s.
    pub connect_timeout: Duration,
    /// Longest wait for a whole call: connecting, sending, and reading the
    /// entire response. Default 10 s.
    pub request_timeout: Duration,
    /// Largest response body accepted; larger ones fail with
    /// [`ClientError::TooLarge`] without being buffered. Default: the
    /// parser's default document limit (1 MiB).
    pub max_response_bytes: usize,
    /// How long an idle kept-alive connection stays in the pool. Default 30 s.
    pub pool_idle_timeout: Duration,
    /// Parser limits for responses.
    pub limits: Limits,
    /// For `https://` URLs: the CAs trusted and the certificate presented.
    /// `None`: the system's CA store, read by [`Client::new`], and no client
    /// certificate. Unused for `http://` URLs.
    pub tls: Option<TlsConfig>,
    /// Sent with every request as `Authorization: Basic`. `None`: no
    /// authentication.
    pub credentials: Option<Credentials>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: Limits::DEFAULT_MAX_DOCUMENT_BYTES,
            pool_idle_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            tls: None,
            credentials: None,
        }
    }
}

/// Why a call did not produce a value. Every message names the endpoint and
/// says what to check.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum ClientError {
    /// The URL given to [`Client::new`] is not one this client can use.
    #[error("invalid XML-RPC URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The call holds a value XML-RPC cannot carry; nothing was sent.
    #[error("cannot send {method}: {source}")]
    Encode {
        method: String,
        #[source]
        source: WriteError,
    },
    /// [`ClientConfig::tls`] was not given for an `https://` URL, and the
    /// system's CA store cannot be used.
    #[error("cannot set up TLS for {endpoint}: {source}")]
    TlsSetup {
        endpoint: String,
        #[source]
        source: Box<SetupError>,
    },
    /// The TCP connection failed (refused, unreachable, name not resolved).
    #[error("cannot connect to {endpoint}: {cause}; is ARPwatch listening there?")]
    Connect { endpoint: String, cause: String },
    /// No connection was established in time: within `connect_timeout`, or
    /// within `request_timeout` when that is the shorter. `timeout` is the
    /// one that ran out. For `https://`, connecting includes the TLS
    /// handshake.
    #[error("connecting to {endpoint} took longer than {timeout:?}; {}", connect_hint(.endpoint))]
    ConnectTimeout { endpoint: String, timeout: Duration },
    /// TLS failed: the server's certificate does not verify (unknown CA,
    /// expired, not for this host name), the server refused the handshake
    /// (a client certificate it requires or does not trust), or the server
    /// does not speak TLS. `reason` says which, and what to check.
    #[error("TLS with {endpoint} failed: {reason}")]
    Tls {
        endpoint: String,
        failure: TlsFailure,
        reason: String,
    },
    /// The whole call did not finish within `request_timeout`.
    #[error(
        "{endpoint} did not answer {method} within {timeout:?}; is the server hung or overloaded?"
    )]
    RequestTimeout {
        endpoint: String,
        method: String,
        timeout: Duration,
    },
    /// The connection broke while sending or receiving.
    #[error("HTTP exchange with {endpoint} failed during {method}: {cause}")]
    Http {
        endpoint: String,
        method: String,
        cause: String,
    },
    /// HTTP 401: the server wants credentials, and the ones sent (if any)
    /// are not right.
    #[error("{}", unauthorized_text(.endpoint, .method, *.sent_credentials))]
    Unauthorized {
        endpoint: String,
        method: String,
        /// Whether the request carried [`ClientConfig::credentials`].
        sent_credentials: bool,
    },
    /// An HTTP status other than 200. XML-RPC answers faults with 200 too, so
    /// this is the wrong URL or a proxy in the way.
    #[error(
        "{endpoint} answered {method} with HTTP {status}; XML-RPC always answers 200, so is the URL (path included) right?"
    )]
    Status {
        endpoint: String,
        method: String,
        status: u16,
    },
    /// The response body is larger than `max_response_bytes`.
    #[error(
        "the response of {endpoint} to {method} is over {limit} bytes; raise max_response_bytes if that is expected"
    )]
    TooLarge {
        endpoint: String,
        method: String,
        limit: usize,
    },
    /// The response is not an XML-RPC `methodResponse`.
    #[error(
        "the response of {endpoint} to {method} is not XML-RPC: {source}; is that an XML-RPC server?"
    )]
    BadResponse {
        endpoint: String,
        method: String,
        #[source]
        source: ParseError,
    },
    /// A `system.multicall` result that does not match the calls sent.
    #[error("the system.multicall result of {endpoint} is unusable: {reason}")]
    BadMulticall { endpoint: String, reason: String },
    /// The server answered with a fault.
    #[error("{endpoint} answered {method} with fault {}: {}", fault.code, fault.message)]
    Fault {
        endpoint: String,
        method: String,
        fault: Fault,
    },
}

impl ClientError {
    /// True when trying the same call later, unchanged, may succeed: the
    /// peer was unreachable, slow or broke the connection, answered with an
    /// HTTP server error, or its certificate did not verify or it refused
    /// the handshake. False for what only a change on this side can fix (a
    /// fault, a bad URL, an https:// URL to a server without TLS, refused
    /// credentials, a response that is not XML-RPC).
    ///
    /// A certificate that does not verify is an outage for an operator to
    /// end, most often at the server (renewing an expired certificate,
    /// installing the right one or its chain) with nothing to change here:
    /// so it is transient, and a caller that keeps work for later (aae keeps
    /// its notices) keeps it and tries again.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::RequestTimeout { .. }
            | ClientError::Http { .. } => true,
            ClientError::Tls { failure, .. } => *failure != TlsFailure::NotTls,
            ClientError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The fault, when the server answered with one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            ClientError::Fault { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

/// What kind of TLS failure a [`ClientError::Tls`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate is not signed by a trusted CA.
    UnknownIssuer,
    /// The server's certificate has expired, or is not valid yet.
    Expired,
    /// The server's certificate is not for the URL's host name.
    WrongName,
    /// The server's certificate does not verify for another reason
    /// (revoked, bad signature, wrong purpose, malformed).
    BadCertificate,
    /// The server ended the handshake with an alert: most often it wants a
    /// client certificate, or does not trust the one presented.
    Refused,
    /// The server does not speak TLS (an `https://` URL to a plain port).
    NotTls,
    /// Any other TLS error.
    Other,
}

/// An XML-RPC client for one endpoint. Cheap to clone: clones share the
/// connection pool.
#[derive(Clone)]
pub struct Client {
    http: HttpClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
    endpoint: String,
    config: ClientConfig,
    authorization: Option<HeaderValue>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client posting to `url`: `http://host[:port][/path]` or
    /// `https://…`. The path is used as given (`/` when there is none;
    /// ARPwatch's conventional one is `/RPC2`). Credentials in the URL are
    /// refused: give them as [`ClientConfig::credentials`]. For `https://`
    /// without [`ClientConfig::tls`], the system's CA store is read here.
    /// Needs no runtime; calls need a Tokio runtime with the time driver
    /// enabled.
    pub fn new(url: &str, config: ClientConfig) -> Result<Client, ClientError> {
        let uri = parse_url(url)?;
        let endpoint = uri.to_string();
        let tls = match (
            &config.tls,
            uri.scheme() == Some(&hyper::http::uri::Scheme::HTTPS),
        ) {
            (Some(tls), _) => tls.rustls(),
            (None, true) => TlsConfig::system()
                .map_err(|source| ClientError::TlsSetup {
                    endpoint: endpoint.clone(),
                    source: Box::new(source),
                })?
                .rustls(),
            (None, false) => TlsConfig::unused(),
        };
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(config.connect_timeout));
        tcp.set_nodelay(true);
        // The scheme is the TLS layer's to check.
        tcp.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(rustls::ClientConfig::clone(&tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Client {
            http,
            endpoint,
            uri,
            authorization: config.credentials.as_ref().map(Credentials::header),
            config,
        })
    }

    /// Checks `url` as [`Client::new`] would, without reading anything:
    /// the normalised URL, or why it is refused.
    pub fn check_url(url: &str) -> Result<String, ClientError> {
        parse_url(url).map(|uri| uri.to_string())
    }

    /// The URL this client posts to, normalised (`http[s]://host:port/path`).
    pub fn url(&self) -> &str {
        &self.endpoint
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Calls one method: its value, or why there is none (a fault is
    /// [`ClientError::Fault`]). `nil` is `Ok(Value::Nil)`.
    pub async fn call(&self, call: &MethodCall) -> Result<Value, ClientError> {
        self.exchange(call)
            .await?
            .map_err(|fault| ClientError::Fault {
                endpoint: self.endpoint.clone(),
                method: call.method.clone(),
                fault,
            })
    }

    /// Calls several methods in one HTTP request with `system.multicall`.
    /// One response per call, in order; a fault for one call is that entry's
    /// `Err`. The outer error is for the request as a whole (including a
    /// server without `system.multicall`, which faults).
    pub async fn multicall(
        &self,
        calls: &[MethodCall],
    ) -> Result<Vec<MethodResponse>, ClientError> {
        let value = self.call(&multicall::encode_calls(calls)).await?;
        let bad = |reason: String| ClientError::BadMulticall {
            endpoint: self.endpoint.clone(),
            reason,
        };
        let results = multicall::decode_results(value).map_err(|e| bad(e.to_string()))?;
        if results.len() != calls.len() {
            return Err(bad(format!(
                "{} results for {} calls",
                results.len(),
                calls.len()
            )));
        }
        Ok(results)
    }

    /// One HTTP exchange: the parsed response, a fault being `Ok(Err(_))`.
    async fn exchange(&self, call: &MethodCall) -> Result<MethodResponse, ClientError> {
        let body = xml::write_call(call).map_err(|source| ClientError::Encode {
            method: call.method.clone(),
            source,
        })?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, "text/xml")
            .header(
                USER_AGENT,
                concat!("arpwatch-rpc/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .expect("method, a validated URI and static headers always build a request");
        if let Some(authorization) = &self.authorization {
            request
                .headers_mut()
                .insert(AUTHORIZATION, authorization.clone());
        }
        // Tells a timeout while connecting from one while waiting for the
        // answer: the two call for different checks.
        let connection = capture_connection(&mut request);
        let timeout = self.config.request_timeout;
        let doc = match tokio::time::timeout(timeout, self.post(&call.method, request)).await {
            Ok(doc) => doc?,
            Err(_) if connection.connection_metadata().is_none() => {
                return Err(ClientError::ConnectTimeout {
                    endpoint: self.endpoint.clone(),
                    timeout,
                });
            }
            Err(_) => {
                return Err(ClientError::RequestTimeout {
                    endpoint: self.endpoint.clone(),
                    method: call.method.clone(),
                    timeout,
                });
            }
        };
        xml::parse_response(&doc, &self.config.limits).map_err(|source| ClientError::BadResponse {
            endpoint: self.endpoint.clone(),
            method: call.method.clone(),
            source,
        })
    }

    async fn post(
        &self,
        method: &str,
        request: Request<Full<Bytes>>,
    ) -> Result<Bytes, ClientError> {
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| self.send_error(method, &e))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized {
                endpoint: self.endpoint.clone(),
                method: method.to_owned(),
                sent_credentials: self.authorization.is_some(),
            });
        }
        if response.status() != StatusCode::OK {
            return Err(ClientError::Status {
                endpoint: self.endpoint.clone(),
                method: method.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let limit = self.config.max_response_bytes;
        let too_large = || ClientError::TooLarge {
            endpoint: self.endpoint.clone(),
            method: method.to_owned(),
            limit,
        };
        // Refuse an announced oversize body before reading any of it.
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        match Limited::new(response.into_body(), limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Err(e) => Err(self.tls_error(&*e).unwrap_or_else(|| ClientError::Http {
                endpoint: self.endpoint.clone(),
                method: method.to_owned(),
                cause: chain(&*e),
            })),
        }
    }

    /// A [`ClientError::Tls`], when rustls is what failed.
    fn tls_error(&self, e: &(dyn std::error::Error + 'static)) -> Option<ClientError> {
        let (failure, reason) = tls_reason(find_rustls(e)?);
        Some(ClientError::Tls {
            endpoint: self.endpoint.clone(),
            failure,
            reason,
        })
    }

    fn send_error(&self, method: &str, e: &hyper_util::client::legacy::Error) -> ClientError {
        // A TLS 1.3 server refuses a client certificate after the client
        // has finished its handshake, so its alert may come with the first
        // read, after connecting.
        if let Some(tls) = self.tls_error(e) {
            return tls;
        }
        if e.is_connect() {
            if io_kind(e) == Some(std::io::ErrorKind::TimedOut) {
                return ClientError::ConnectTimeout {
                    endpoint: self.endpoint.clone(),
                    timeout: self.config.connect_timeout,
                };
            }
            return ClientError::Connect {
                endpoint: self.endpoint.clone(),
                cause: chain(e),
            };
        }
        let mut cause = chain(e);
        if self.uri.scheme() == Some(&hyper::http::uri::Scheme::HTTP) && closed_unanswered(e) {
            cause.push_str(
                " (the server closed the connection without an answer; if that port speaks \
                 TLS, use https://)",
            );
        }
        ClientError::Http {
            endpoint: self.endpoint.clone(),
            method: method.to_owned(),
            cause,
        }
    }
}

fn connect_hint(endpoint: &str) -> &'static str {
    if endpoint.starts_with("https:") {
        "is the host up, does a firewall drop the packets, and does that port speak TLS \
         (connecting includes the TLS handshake)?"
    } else {
        "is the host up, and does a firewall drop the packets?"
    }
}

fn unauthorized_text(endpoint: &str, method: &str, sent_credentials: bool) -> String {
    if sent_credentials {
        format!(
            "ARPwatch at {endpoint} refused the credentials sent with {method} (HTTP 401); \
             check the user and password against the ones ARPwatch expects"
        )
    } else {
        format!(
            "{endpoint} asks for credentials (HTTP 401) for {method} and none are configured; \
             give the client a user and password"
        )
    }
}

/// The rustls error in `e`'s chain. An `io::Error`'s `source()` skips the
/// error it wraps (it returns that error's source), so wrapped errors are
/// looked into with `get_ref()`.
fn find_rustls<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        cur = match c.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => None,
            },
            None => c.source(),
        };
    }
    None
}

/// What kind of failure `e` is, and a sentence saying it and what to check.
fn tls_reason(e: &rustls::Error) -> (TlsFailure, String) {
    use rustls::{AlertDescription, CertificateError as C, Error as E};
    let (failure, check) = match e {
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => (
                TlsFailure::UnknownIssuer,
                "the server's certificate is not signed by a CA this client trusts: check that \
                 the CA file (or the system's CA store, without one) holds the CA that issued \
                 it, and that the server sends its intermediate certificates",
            ),
            C::Expired | C::ExpiredContext { .. } => (
                TlsFailure::Expired,
                "the server's certificate has expired: renew it (and check both hosts' clocks)",
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => (
                TlsFailure::Expired,
                "the server's certificate is not valid yet: check both hosts' clocks",
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => (
                TlsFailure::WrongName,
                "the server's certificate is not for the URL's host: use a name (or address) \
                 the certificate lists, or reissue it with this one",
            ),
            _ => (
                TlsFailure::BadCertificate,
                "the server's certificate does not verify",
            ),
        },
        E::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied
            | AlertDescription::HandshakeFailure => (
                TlsFailure::Refused,
                "the server refused the handshake: if it requires a client certificate, check \
                 that one is configured, with its key, and that the server trusts its CA",
            ),
            _ => (TlsFailure::Refused, "the server refused the handshake"),
        },
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => (
            TlsFailure::NotTls,
            "the server does not speak TLS there: is it a plain http:// port?",
        ),
        _ => (TlsFailure::Other, "the TLS handshake failed"),
    };
    (failure, format!("{check} ({e})"))
}

/// Whether hyper saw the connection end before any response.
fn closed_unanswered(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message();
        }
        cur = c.source();
    }
    false
}

fn parse_url(url: &str) -> Result<Uri, ClientError> {
    // The URL is shown in the error: never with a password in it.
    let bad = |reason: &str| ClientError::InvalidUrl {
        url: redact_userinfo(url),
        reason: reason.to_owned(),
    };
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|_| bad("not a URL; expected http[s]://host:port/path"))?;
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http" | "https") => {}
        Some(_) => return Err(bad("only http:// and https:// URLs are supported")),
        None => return Err(bad("no scheme; expected http[s]://host:port/path")),
    }
    let Some(authority) = uri.authority() else {
        return Err(bad("no host; expected http[s]://host:port/path"));
    };
    if authority.as_str().contains('@') {
        return Err(bad(
            "credentials in the URL are refused, since the URL is shown in logs and \
             configuration dumps; give them as the client's credentials (aae: a file named by \
             'arpwatch-credentials-file')",
        ));
    }
    if authority.host().is_empty() {
        return Err(bad("no host; expected http[s]://host:port/path"));
    }
    // Uri normalises a missing path to "/".
    Ok(uri)
}

/// `url` with whatever stands between `scheme://` and an `@` of the
/// authority replaced by `***`: what a user and password would be.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// The error and its causes, outermost first: hyper's own messages are terse
/// ("client error (Connect)"); the OS reason is at the bottom of the chain.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ok = |u: &str| parse_url(u).unwrap().to_string();
        assert_eq!(
            ok("http://127.0.0.1:8080/RPC2"),
            "http://127.0.0.1:8080/RPC2"
        );
        assert_eq!(ok("http://arpwatch.example"), "http://arpwatch.example/");
        assert_eq!(ok("HTTP://[::1]:80/x?y=1"), "http://[::1]:80/x?y=1");
        assert_eq!(ok("https://a/RPC2"), "https://a/RPC2");
        assert_eq!(ok("HTTPS://a:8443"), "https://a:8443/");
        for (bad, why) in [
            ("ftp://a/", "only http:// and https://"),
            ("a:80/RPC2", "not a URL"),
            ("a:80", "no scheme"),
            ("/RPC2", "no scheme"),
            ("not a url", "not a URL"),
            ("", "not a URL"),
            ("http://u:p@a/", "credentials"),
            ("https://u:p@a/", "credentials"),
        ] {
            let err = parse_url(bad).unwrap_err();
            assert!(
                matches!(&err, ClientError::InvalidUrl { reason, .. } if reason.contains(why)),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_password_in_a_refused_url_is_not_shown() {
        for url in [
            "https://aae:hunter2@arpwatch/RPC2",
            "http://aae:hunter2@arpwatch",
            "https://aae:hunter2@@arpwatch:1/x@y",
        ] {
            let err = parse_url(url).unwrap_err();
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(shown.contains("***@arpwatch"), "{shown}");
            }
        }
        assert_eq!(redact_userinfo("http://a/x@y"), "http://a/x@y");
    }

    #[test]
    fn https_urls_build_a_client_and_secrets_stay_out_of_debug() {
        let config = ClientConfig {
            credentials: Some(Credentials::new("aae", "hunter2").unwrap()),
            ..ClientConfig::default()
        };
        let c = Client::new("https://127.0.0.1:8443/RPC2", config).unwrap();
        assert_eq!(c.url(), "https://127.0.0.1:8443/RPC2");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("aae"),
            "{shown}"
        );
        assert_eq!(
            Client::check_url("HTTPS://a").unwrap(),
            "https://a/".to_owned()
        );
    }
}
