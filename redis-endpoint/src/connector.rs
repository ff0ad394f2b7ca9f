//! From an [`Endpoint`] to a connection to the server that should get the
//! commands now.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo};

use crate::access::client_for;
use crate::sentinel;
use crate::{Endpoint, RedisAccess, SentinelService};

/// Which server of a Sentinel-managed service a connection goes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadFrom {
    /// The primary: the only choice for writes, and the freshest reads.
    #[default]
    Primary,
    /// A replica that is up and linked to the primary; the primary when
    /// there is none. Reads may lag the primary by the replication delay.
    Replica,
}

/// A connection, and the server it reached.
pub struct Connected {
    pub conn: MultiplexedConnection,
    /// `host:port` (or the socket's path) of the server.
    pub addr: String,
    /// Set when this connection found a primary other than the one found
    /// before: the one before (`None` on the first). A caller logs it once.
    pub new_primary: Option<Option<String>>,
}

/// What a connector knows now, for `/health` and the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The primary last reached (or named by the sentinels, when reading
    /// from a replica); `None` until one was.
    pub primary: Option<String>,
    /// How many times a primary other than the one before was found: the
    /// failovers followed.
    pub failovers: u64,
    /// Whether the endpoint is a Sentinel service.
    pub sentinel: bool,
}

/// Makes connections to a server, or through sentinels to a service's
/// primary or replica. Shared by every connection a program makes, so that
/// all of them learn which sentinel answers and which primary is current.
pub struct Connector {
    target: Target,
    timeout: Duration,
    state: Mutex<State>,
}

enum Target {
    Server(redis::Client),
    Sentinel {
        service: SentinelService,
        /// A client per sentinel, in the URL's order.
        sentinels: Vec<redis::Client>,
        access: RedisAccess,
    },
}

#[derive(Default)]
struct State {
    /// The order in which the sentinels are asked: the last one that
    /// answered first, as the Sentinel client spec asks.
    order: Vec<usize>,
    status: Status,
}

impl Connector {
    /// Checks what can be checked without a network. `access` is for the
    /// data nodes; its CA and client certificate serve the sentinels too
    /// (one TLS set-up for a site), with its `sentinel_password`.
    /// `timeout` bounds each step: a connection, or one command.
    pub fn new(
        endpoint: &Endpoint,
        access: &RedisAccess,
        timeout: Duration,
    ) -> Result<Connector, redis::RedisError> {
        let (target, n) = match endpoint {
            Endpoint::Server(url) => (Target::Server(crate::redis_client(url, access)?), 0),
            Endpoint::Sentinel(service) => {
                let sentinel_access = RedisAccess {
                    password: access.sentinel_password.clone(),
                    ..access.clone()
                };
                let sentinels = service
                    .sentinels
                    .iter()
                    .map(|(host, port)| {
                        client_for(info(host, *port, service.tls, 0)?, &sentinel_access)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut access = access.clone();
                if access.password.is_none() {
                    access.password.clone_from(&service.password);
                }
                let n = sentinels.len();
                (
                    Target::Sentinel {
                        service: service.clone(),
                        sentinels,
                        access,
                    },
                    n,
                )
            }
        };
        Ok(Connector {
            state: Mutex::new(State {
                order: (0..n).collect(),
                status: Status {
                    sentinel: n > 0,
                    ..Status::default()
                },
            }),
            target,
            timeout,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What is known now.
    pub fn status(&self) -> Status {
        self.state().status.clone()
    }

    /// The endpoint in words, for log lines: the server's address, or the
    /// service and its sentinels. No password.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Server(c) => format!("Redis at {}", c.get_connection_info().addr()),
            Target::Sentinel { service, .. } => format!(
                "Redis service '{}' of the sentinels at {}",
                service.service,
                service
                    .sentinels
                    .iter()
                    .map(|(h, p)| join(h, *p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// A connection to the server that should get commands now. A server
    /// endpoint always means that server; a Sentinel one means what the
    /// first sentinel to answer names, once that server confirms its role:
    /// a sentinel may be behind a failover for a moment, the server never
    /// is. The error says what each sentinel said.
    pub async fn connect(&self, read_from: ReadFrom) -> Result<Connected, String> {
        match &self.target {
            Target::Server(client) => {
                let conn = self.open(client).await?;
                let addr = client.get_connection_info().addr().to_string();
                let new_primary = self.note_primary(&addr);
                Ok(Connected {
                    conn,
                    addr,
                    new_primary,
                })
            }
            Target::Sentinel {
                service,
                sentinels,
                access,
            } => {
                let mut said = Vec::new();
                let order = self.state().order.clone();
                for i in order {
                    let (host, port) = &service.sentinels[i];
                    match self.via(&sentinels[i], service, access, read_from).await {
                        Ok(found) => {
                            self.answered(i);
                            return Ok(found);
                        }
                        Err(e) => said.push(format!("sentinel {}: {e}", join(host, *port))),
                    }
                }
                Err(format!(
                    "no primary for service '{}': {}",
                    service.service,
                    said.join("; ")
                ))
            }
        }
    }

    /// The primary the sentinels name now, without connecting to it: for a
    /// reader on a replica, or one checking that its primary is still the
    /// one. A server endpoint names its own address.
    pub async fn named_primary(&self) -> Result<String, String> {
        let (service, sentinels) = match &self.target {
            Target::Server(c) => return Ok(c.get_connection_info().addr().to_string()),
            Target::Sentinel {
                service, sentinels, ..
            } => (service, sentinels),
        };
        let mut said = Vec::new();
        let order = self.state().order.clone();
        for i in order {
            let (host, port) = &service.sentinels[i];
            let asked = async {
                let mut s = self.open(&sentinels[i]).await?;
                sentinel::primary_of(&mut s, &service.service, self.timeout)
                    .await?
                    .ok_or_else(|| "does not know the service".to_owned())
            };
            match asked.await {
                Ok((h, p)) => {
                    self.answered(i);
                    return Ok(join(&h, p));
                }
                Err(e) => said.push(format!("sentinel {}: {e}", join(host, *port))),
            }
        }
        Err(format!(
            "no primary for service '{}': {}",
            service.service,
            said.join("; ")
        ))
    }

    /// Asks one sentinel, and connects where it says.
    async fn via(
        &self,
        sentinel_client: &redis::Client,
        service: &SentinelService,
        access: &RedisAccess,
        read_from: ReadFrom,
    ) -> Result<Connected, String> {
        let mut s = self.open(sentinel_client).await?;
        let (host, port) = sentinel::primary_of(&mut s, &service.service, self.timeout)
            .await?
            .ok_or_else(|| "does not know the service".to_owned())?;
        let primary = join(&host, port);
        if read_from == ReadFrom::Replica {
            for (h, p) in sentinel::replicas_of(&mut s, &service.service, self.timeout).await? {
                // A replica that fails is passed over: the next one, or the
                // primary, serves.
                if let Ok(conn) = self.node(service, access, &h, p, "slave").await {
                    let new_primary = self.note_primary(&primary);
                    return Ok(Connected {
                        conn,
                        addr: join(&h, p),
                        new_primary,
                    });
                }
            }
        }
        let conn = self
            .node(service, access, &host, port, "master")
            .await
            .map_err(|e| format!("named {primary} as primary, but {e}"))?;
        let new_primary = self.note_primary(&primary);
        Ok(Connected {
            conn,
            addr: primary,
            new_primary,
        })
    }

    /// A connection to a data node that says it is `role` now.
    async fn node(
        &self,
        service: &SentinelService,
        access: &RedisAccess,
        host: &str,
        port: u16,
        want: &str,
    ) -> Result<MultiplexedConnection, String> {
        let mut info = info(host, port, service.tls, service.db).map_err(|e| e.to_string())?;
        if let Some(user) = &service.username {
            let settings = info.redis_settings().clone().set_username(user);
            info = info.set_redis_settings(settings);
        }
        let client = client_for(info, access).map_err(|e| e.to_string())?;
        let mut conn = self.open(&client).await?;
        let role = sentinel::role(&mut conn, self.timeout).await?;
        if role != want {
            return Err(format!("it says it is a {role}"));
        }
        Ok(conn)
    }

    async fn open(&self, client: &redis::Client) -> Result<MultiplexedConnection, String> {
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        // The outer bound also covers name resolution, which the
        // connection timeout does not.
        tokio::time::timeout(
            self.timeout * 2,
            client.get_multiplexed_async_connection_with_config(&cfg),
        )
        .await
        .map_err(|_| {
            format!(
                "connecting timed out after {} ms",
                (self.timeout * 2).as_millis()
            )
        })?
        .map_err(|e| format!("cannot connect: {e}"))
    }

    fn answered(&self, i: usize) {
        let mut st = self.state();
        if let Some(at) = st.order.iter().position(|&x| x == i) {
            st.order[..=at].rotate_right(1);
        }
    }

    /// Records `addr` as the primary now: the one before when it changed
    /// (`None` inside for the first). [`Connector::connect`] does this for
    /// the primary it reached; a reader on a replica does it for the one
    /// [`Connector::named_primary`] named.
    pub fn note_primary(&self, addr: &str) -> Option<Option<String>> {
        let mut st = self.state();
        if st.status.primary.as_deref() == Some(addr) {
            return None;
        }
        let before = st.status.primary.replace(addr.to_owned());
        if before.is_some() && st.status.sentinel {
            st.status.failovers += 1;
        }
        Some(before)
    }
}

/// `host:port`, with brackets for IPv6.
fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn info(
    host: &str,
    port: u16,
    tls: bool,
    db: i64,
) -> Result<redis::ConnectionInfo, redis::RedisError> {
    let scheme = if tls { "rediss" } else { "redis" };
    format!("{scheme}://{}/{db}", join(host, port)).into_connection_info()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(url: &str) -> Connector {
        Connector::new(
            &Endpoint::parse(url).unwrap(),
            &RedisAccess::default(),
            Duration::from_millis(100),
        )
        .unwrap()
    }

    #[test]
    fn the_sentinel_that_answered_is_asked_first() {
        let c = connector("redis+sentinel://a:1,b:2,c:3/aae");
        c.answered(2);
        assert_eq!(c.state().order, [2, 0, 1]);
        c.answered(1);
        assert_eq!(c.state().order, [1, 2, 0]);
        c.answered(1);
        assert_eq!(c.state().order, [1, 2, 0]);
    }

    #[test]
    fn a_new_primary_is_a_failover_followed_but_the_first_is_not() {
        let c = connector("redis+sentinel://a:1/aae");
        assert_eq!(c.note_primary("p:1"), Some(None));
        assert_eq!(c.note_primary("p:1"), None);
        assert_eq!(c.note_primary("q:2"), Some(Some("p:1".into())));
        let s = c.status();
        assert_eq!(
            (s.primary.as_deref(), s.failovers, s.sentinel),
            (Some("q:2"), 1, true)
        );
        assert_eq!(c.describe(), "Redis service 'aae' of the sentinels at a:1");
        let one = connector("redis://127.0.0.1:6379");
        one.note_primary("127.0.0.1:6379");
        assert_eq!(one.status().failovers, 0);
    }
}
