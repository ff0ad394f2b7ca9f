//! What aae and aai ask a sentinel, and how its answers read: the part of
//! the Sentinel client protocol they need (redis.io, "Sentinel client
//! spec"): the primary's address by service name, the replicas that are
//! fit to read from, and the role a server says it has.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, Value};

/// One command, bounded by `timeout`, its error as text.
pub(crate) async fn query<T: FromRedisValue>(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    timeout: Duration,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, cmd.query_async(conn)).await {
        Ok(reply) => reply.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no reply within {} ms", timeout.as_millis())),
    }
}

/// `SENTINEL get-master-addr-by-name`: `None` when this sentinel does not
/// monitor `service`.
pub(crate) async fn primary_of(
    conn: &mut MultiplexedConnection,
    service: &str,
    timeout: Duration,
) -> Result<Option<(String, u16)>, String> {
    let reply: Option<(String, String)> = query(
        conn,
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(service),
        timeout,
    )
    .await?;
    match reply {
        None => Ok(None),
        Some((host, port)) => port
            .parse()
            .map(|p| Some((host, p)))
            .map_err(|_| format!("it named the primary's port {port:?}")),
    }
}

/// `SENTINEL replicas`: the replicas this sentinel believes are up and in
/// sync with the primary, in its order.
pub(crate) async fn replicas_of(
    conn: &mut MultiplexedConnection,
    service: &str,
    timeout: Duration,
) -> Result<Vec<(String, u16)>, String> {
    let reply: Value = query(
        conn,
        redis::cmd("SENTINEL").arg("replicas").arg(service),
        timeout,
    )
    .await?;
    Ok(fit_replicas(&reply))
}

/// Replicas that are neither down (subjectively or objectively) nor
/// disconnected, and whose link to the primary is up: reading from one
/// whose link is down could give answers from before a failover.
fn fit_replicas(reply: &Value) -> Vec<(String, u16)> {
    let Value::Array(replicas) = reply else {
        return Vec::new();
    };
    replicas
        .iter()
        .filter_map(|r| {
            let fields = fields(r);
            let flags = fields.get("flags")?;
            let unfit = flags
                .split(',')
                .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"));
            if unfit || fields.get("master-link-status").map(String::as_str) != Some("ok") {
                return None;
            }
            Some((fields.get("ip")?.clone(), fields.get("port")?.parse().ok()?))
        })
        .collect()
}

/// A sentinel's description of one server: a flat list of names and
/// values (RESP2), or a map (RESP3).
fn fields(v: &Value) -> HashMap<String, String> {
    let text = |v: &Value| String::from_redis_value_ref(v).ok();
    match v {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|kv| Some((text(&kv[0])?, text(&kv[1])?)))
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        _ => HashMap::new(),
    }
}

/// The server's own word on what it is now (`ROLE`): `master`, `slave` or
/// `sentinel`. A sentinel's answer may be stale for a moment after a
/// failover; the server's is not.
pub(crate) async fn role(
    conn: &mut MultiplexedConnection,
    timeout: Duration,
) -> Result<String, String> {
    let reply: Value = query(conn, &redis::cmd("ROLE"), timeout).await?;
    match reply {
        Value::Array(items) if !items.is_empty() => {
            String::from_redis_value_ref(&items[0]).map_err(|e| format!("ROLE answered {e}"))
        }
        other => Err(format!("ROLE answered {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(ip: &str, port: &str, flags: &str, link: &str) -> Value {
        let s = |t: &str| Value::BulkString(t.as_bytes().to_vec());
        Value::Array(vec![
            s("name"),
            s(&format!("{ip}:{port}")),
            s("ip"),
            s(ip),
            s("port"),
            s(port),
            s("flags"),
            s(flags),
            s("master-link-status"),
            s(link),
        ])
    }

    #[test]
    fn only_replicas_that_are_up_and_linked_are_read_from() {
        let reply = Value::Array(vec![
            replica("127.0.0.1", "7001", "slave", "ok"),
            replica("127.0.0.1", "7002", "s_down,slave", "ok"),
            replica("127.0.0.1", "7003", "slave", "err"),
            replica("127.0.0.1", "7004", "slave,disconnected", "ok"),
            replica("127.0.0.1", "x", "slave", "ok"),
            replica("127.0.0.1", "7005", "slave", "ok"),
        ]);
        assert_eq!(
            fit_replicas(&reply),
            [
                ("127.0.0.1".to_owned(), 7001),
                ("127.0.0.1".to_owned(), 7005)
            ]
        );
        assert!(fit_replicas(&Value::Nil).is_empty());
    }
}
