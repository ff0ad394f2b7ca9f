//! The routes, as warp filters:
//!
//! | path              | method    | answer                                  |
//! |-------------------|-----------|-----------------------------------------|
//! | `/`, `/RPC2`      | POST      | XML-RPC (faults are 200 `text/xml` too) |
//! | `/health`         | GET, HEAD | 200 when Redis answers PING, else 503   |
//! | `/metrics`        | GET       | Prometheus text                         |
//! | those paths       | other     | 405 with `Allow`                        |
//! | anything else     | any       | 404                                     |
//!
//! Every branch answers (none rejects), so warp's rejection ranking never
//! decides between 404 and 405.

use std::sync::Arc;

use bytes::Buf;
use futures_util::Stream;
use warp::http::{Method, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::App;
use super::body::{self, BodyError};
use crate::metrics::Refusal;

/// All of aai's routes.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
{
    let rpc_path = warp::path::end().or(warp::path!("RPC2")).unify();
    let a = app.clone();
    let rpc = rpc_path
        .and(warp::method())
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then(move |method, len, body| rpc(a.clone(), method, len, body));

    let a = app.clone();
    let health = warp::path!("health")
        .and(warp::method())
        .then(move |method| health(a.clone(), method));

    let a = app.clone();
    let metrics = warp::path!("metrics")
        .and(warp::method())
        .map(move |method| metrics(&a, &method));

    let not_found = warp::any().map(move || {
        app.metrics.refusal(Refusal::NotFound);
        text(
            StatusCode::NOT_FOUND,
            "not found: XML-RPC is served at POST / and POST /RPC2\n",
        )
    });

    rpc.or(health)
        .unify()
        .or(metrics)
        .unify()
        .or(not_found)
        .unify()
}

async fn rpc<S, B>(app: Arc<App>, method: Method, len: Option<u64>, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if method != Method::POST {
        return not_allowed(&app, "POST");
    }
    let _busy = app.metrics.in_flight();
    let doc = match body::collect(body, len, app.max_body_bytes, app.body_timeout).await {
        Ok(doc) => doc,
        Err(BodyError::TooLarge) => {
            app.metrics.refusal(Refusal::TooLarge);
            let msg = format!(
                "request body over the limit of {} bytes (max-body-bytes)\n",
                app.max_body_bytes
            );
            return close(text(StatusCode::PAYLOAD_TOO_LARGE, msg));
        }
        Err(BodyError::Timeout) => {
            app.metrics.refusal(Refusal::BodyTimeout);
            let msg = format!(
                "request body not received within {} ms (body-timeout-ms)\n",
                app.body_timeout.as_millis()
            );
            return close(text(StatusCode::REQUEST_TIMEOUT, msg));
        }
        Err(BodyError::Broken) => {
            return close(text(StatusCode::BAD_REQUEST, "broken request body\n"));
        }
    };
    let start = std::time::Instant::now();
    let out = app.rpc.respond(&doc).await;
    app.metrics.request(start.elapsed());
    let mut resp = Response::new(out.into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    resp
}

async fn health(app: Arc<App>, method: Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return not_allowed(&app, "GET, HEAD");
    }
    let answer = app.store.ping().await;
    let (status, reading) = app.store.status();
    // The second line names the Redis behind the answer: after a
    // failover, the new primary and how many failovers aai followed.
    let redis = match (status.sentinel, &status.primary, reading) {
        (false, _, Some(at)) => format!("redis: {at}"),
        (false, _, None) => format!("redis: {}", app.store.describe()),
        (true, primary, reading) => format!(
            "redis: {}; primary {}; reading from {}; failovers followed: {}",
            app.store.describe(),
            primary.as_deref().unwrap_or("unknown"),
            reading.as_deref().unwrap_or("none"),
            status.failovers
        ),
    };
    match answer {
        Ok(()) => text(StatusCode::OK, format!("ok\n{redis}\n")),
        Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n{redis}\n")),
    }
}

fn metrics(app: &App, method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return not_allowed(app, "GET, HEAD");
    }
    let mut body = app.metrics.render();
    let (status, _) = app.store.status();
    body.push_str(&crate::metrics::redis_status(&status));
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

fn not_allowed(app: &App, allow: &'static str) -> Response {
    app.metrics.refusal(Refusal::MethodNotAllowed);
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here; use {allow}\n"),
    );
    r.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    r
}

/// A short plain-text answer.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    warp::reply::with_status(body.into(), status).into_response()
}

/// Asks hyper to close the connection after this response: the request
/// body was not (fully) read, so the stream is not at a message boundary.
pub fn close(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    r
}
