//! The async XML-RPC client: aae uses it to notify ARPwatch, tests use it to
//! query aai. The only code in this crate that does I/O.
//!
//! Plain HTTP/1.1 over hyper's pooled client: connections are kept alive and
//! reused between calls, every call has a connect timeout and a whole-request
//! timeout, and responses are capped in size before they are parsed.
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
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::{HttpConnector, capture_connection};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use thiserror::Error;

use crate::xml::{self, ParseError, WriteError};
use crate::{Fault, Limits, MethodCall, MethodResponse, Value, multicall};

/// How a [`Client`] behaves on the network. [`ClientConfig::default`] suits a
/// peer on the same LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: Limits::DEFAULT_MAX_DOCUMENT_BYTES,
            pool_idle_timeout: Duration::from_secs(30),
            limits: Limits::default(),
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
    /// The TCP connection failed (refused, unreachable, name not resolved).
    #[error("cannot connect to {endpoint}: {cause}; is ARPwatch listening there?")]
    Connect { endpoint: String, cause: String },
    /// No connection was established in time: within `connect_timeout`, or
    /// within `request_timeout` when that is the shorter. `timeout` is the
    /// one that ran out.
    #[error(
        "connecting to {endpoint} took longer than {timeout:?}; is the host up, and does a firewall drop the packets?"
    )]
    ConnectTimeout { endpoint: String, timeout: Duration },
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
    /// True when trying the same call later may succeed: the peer was
    /// unreachable, slow or broke the connection, or answered with an HTTP
    /// server error. False for what retrying cannot fix (a fault, a bad URL,
    /// a response that is not XML-RPC).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::RequestTimeout { .. }
            | ClientError::Http { .. } => true,
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

/// An XML-RPC client for one endpoint. Cheap to clone: clones share the
/// connection pool.
#[derive(Clone)]
pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    uri: Uri,
    endpoint: String,
    config: ClientConfig,
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
    /// A client posting to `url`: `http://host[:port][/path]`. The path is
    /// used as given (`/` when there is none; ARPwatch's conventional one is
    /// `/RPC2`). Only plain `http` is supported. Needs no runtime; calls need
    /// a Tokio runtime with the time driver enabled.
    pub fn new(url: &str, config: ClientConfig) -> Result<Client, ClientError> {
        let uri = parse_url(url)?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Client {
            http,
            endpoint: uri.to_string(),
            uri,
            config,
        })
    }

    /// The URL this client posts to, normalised (`http://host:port/path`).
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
            Err(e) => Err(ClientError::Http {
                endpoint: self.endpoint.clone(),
                method: method.to_owned(),
                cause: chain(&*e),
            }),
        }
    }

    fn send_error(&self, method: &str, e: &hyper_util::client::legacy::Error) -> ClientError {
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
        ClientError::Http {
            endpoint: self.endpoint.clone(),
            method: method.to_owned(),
            cause: chain(e),
        }
    }
}

fn parse_url(url: &str) -> Result<Uri, ClientError> {
    let bad = |reason: &str| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|_| bad("not a URL; expected http://host:port/path"))?;
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported; the ARPwatch link is plain HTTP on the management network, use http://",
            ));
        }
        Some(_) => return Err(bad("only http:// URLs are supported")),
        None => return Err(bad("no scheme; expected http://host:port/path")),
    }
    let Some(authority) = uri.authority() else {
        return Err(bad("no host; expected http://host:port/path"));
    };
    if authority.as_str().contains('@') {
        return Err(bad(
            "credentials in the URL are not supported; XML-RPC here has no authentication",
        ));
    }
    if authority.host().is_empty() {
        return Err(bad("no host; expected http://host:port/path"));
    }
    // Uri normalises a missing path to "/".
    Ok(uri)
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
        for (bad, why) in [
            ("https://a/RPC2", "https is not supported"),
            ("ftp://a/", "only http://"),
            ("a:80/RPC2", "not a URL"),
            ("a:80", "no scheme"),
            ("/RPC2", "no scheme"),
            ("not a url", "not a URL"),
            ("", "not a URL"),
            ("http://u:p@a/", "credentials"),
        ] {
            let err = parse_url(bad).unwrap_err();
            assert!(
                matches!(&err, ClientError::InvalidUrl { reason, .. } if reason.contains(why)),
                "{bad}: {err}"
            );
        }
    }
}
