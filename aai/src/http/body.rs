//! Reading a request body with a size cap and a deadline, so a client can
//! neither make aai buffer more than it will parse nor hold a connection
//! open by trickling bytes.

use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Declared or actual size over the cap: 413.
    TooLarge,
    /// Not complete within the deadline: 408.
    Timeout,
    /// The client went away or sent broken framing.
    Broken,
}

/// Collects `body`. A declared `Content-Length` over `max` is refused
/// before a byte is read; a body without one (chunked) is cut off the moment
/// it passes `max`.
pub async fn collect<S, B>(
    body: S,
    declared: Option<u64>,
    max: usize,
    deadline: Duration,
) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let read = async move {
        let mut body = std::pin::pin!(body);
        let mut buf = Vec::with_capacity(declared.map_or(1024, |n| n as usize));
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|_| BodyError::Broken)?;
            if buf.len() + chunk.remaining() > max {
                return Err(BodyError::TooLarge);
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                buf.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(buf)
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, warp::Error>> {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn caps_declared_and_actual_size() {
        let s = Duration::from_secs(1);
        assert_eq!(
            collect(chunks(&[b"ab", b"c"]), Some(3), 3, s)
                .await
                .unwrap(),
            b"abc"
        );
        assert_eq!(
            collect(chunks(&[]), Some(4), 3, s).await,
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            collect(chunks(&[b"ab", b"cd"]), None, 3, s).await,
            Err(BodyError::TooLarge)
        );
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let stalled = futures_util::stream::pending::<Result<Bytes, warp::Error>>();
        let r = collect(stalled, Some(10), 100, Duration::from_millis(20)).await;
        assert_eq!(r, Err(BodyError::Timeout));
    }
}
