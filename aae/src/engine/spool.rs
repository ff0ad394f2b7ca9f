//! The ARPwatch spool: notices ARPwatch had not confirmed when the engine
//! stopped, kept in a file until the next start queues them again.
//!
//! Kea unloads the hook on every reconfiguration and on shutdown, and the
//! backlog lives in memory. Redis is repaired after a load by the resync from
//! Kea's lease database, but ARPwatch is told only of events, so without the
//! spool an ARPwatch that was down at unload would never hear the final
//! state of the addresses still pending for it.
//!
//! The file is text, one JSON document per line, so an operator can read it:
//!
//! ```text
//! {"aae-arpwatch-spool":1,"leases":2,"node":"dhcp-a","written":1795507200}
//! {"v":1,"mac":"00:1b:2c:aa:bb:0f","ip":"192.0.2.10","cltt":1795507100,"valid_lifetime":3600,"subnet_id":1,"event":"renew","node":"dhcp-a","hostname":"printer-3"}
//! {"v":1,"mac":"00:1b:2c:aa:bb:10","ip":"192.0.2.11","cltt":1795507150,"valid_lifetime":3600,"subnet_id":1,"event":"release","node":"dhcp-a","hostname":""}
//! ```
//!
//! The header names the format and its version, and counts the lines that
//! follow. Each lease line is lease-model's Redis value (version 1, see
//! `docs/redis-schema.md`), also for leases that ended, which Redis never
//! stores; it is read back with [`RedisSchema::decode`], so the spool and
//! Redis cannot disagree about what a lease looks like.
//!
//! The file is written whole to `<spool>.tmp`, synced, then renamed over
//! `<spool>`: a crash or a full disk leaves either the previous spool or
//! none, never a half-written one under the spool's name. A spool that
//! does not read back completely (unknown header, a bad line, fewer or more
//! lines than the header counts) is not used at all and is renamed to
//! `<spool>.bad` for the operator to look at.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use lease_model::{Lease, LeaseRecord, RedisSchema};
use serde::{Deserialize, Serialize};

/// The version this build writes and the only one it reads.
const VERSION: u32 = 1;

/// MACs and hostnames are personal data: only Kea's user reads the file.
const MODE: u32 = 0o600;

/// The first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    /// Names the format, so `head -1` says what the file is; the value is
    /// the format's version.
    #[serde(rename = "aae-arpwatch-spool")]
    version: u32,
    /// Lease lines that follow; fewer or more means the file is not whole.
    leases: u64,
    /// The node that wrote it; for the operator only (notices are sent
    /// under the `node-name` of the instance that reads it back).
    node: String,
    /// Unix seconds when it was written.
    written: i64,
}

/// What a spool held.
#[derive(Debug)]
pub(crate) struct Spooled {
    pub leases: Vec<Lease>,
    /// The node that wrote it.
    pub node: String,
    /// Unix seconds when it was written.
    pub written: i64,
}

/// Why a spool was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Opening or reading it failed.
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    /// It is not a whole spool this version wrote.
    #[error("line {line}: {why}")]
    Corrupt { line: usize, why: String },
}

/// Where the file is written before it is renamed into place; also what
/// the load-time check creates. Beside the spool, so the rename stays on
/// one file system, and named after it, so a path rule that allows the
/// spool (an AppArmor glob such as `kea-leases4.csv*`) allows this too.
pub(crate) fn temp_path(spool: &Path) -> PathBuf {
    with_suffix(spool, ".tmp")
}

/// Where a spool that could not be used is moved.
pub(crate) fn bad_path(spool: &Path) -> PathBuf {
    with_suffix(spool, ".bad")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(MODE)
        .open(path)
}

/// Checks, at load, that the spool can be written: its directory exists,
/// and this process may create files there (Unix permissions, a read-only
/// mount and mandatory access control such as AppArmor all count; asking
/// `access(2)` would miss the last two). Creates and removes the temporary
/// file.
pub(crate) fn check_writable(spool: &Path) -> Result<(), String> {
    if spool.is_dir() {
        return Err(format!("{} is a directory", spool.display()));
    }
    let dir = spool.parent().unwrap_or(Path::new("/"));
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let probe = temp_path(spool);
    create(&probe).map_err(|e| format!("cannot create {}: {e}", probe.display()))?;
    fs::remove_file(&probe).map_err(|e| format!("cannot remove {}: {e}", probe.display()))
}

/// Writes `leases` as the spool at `path`, replacing any spool there.
/// Either the whole file is in place when this returns `Ok`, or the spool's
/// name holds what it held before.
pub(crate) fn write(path: &Path, node: &str, leases: &[Lease], now: i64) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = write_to(&tmp, node, leases, now).and_then(|()| fs::rename(&tmp, path));
    match result {
        Ok(()) => {
            // Makes the rename itself durable. Best effort: a confined Kea
            // (Debian's AppArmor profile) may not open its state directory.
            if let Some(dir) = path.parent()
                && let Ok(d) = File::open(dir)
            {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_to(tmp: &Path, node: &str, leases: &[Lease], now: i64) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(64 * 1024, create(tmp)?);
    let header = Header {
        version: VERSION,
        leases: leases.len() as u64,
        node: node.to_owned(),
        written: now,
    };
    serde_json::to_writer(&mut out, &header)?;
    out.write_all(b"\n")?;
    // One lease per line, in lease-model's Redis value format, which
    // `read` decodes back.
    let schema = RedisSchema::default();
    for l in leases {
        let record = LeaseRecord {
            lease: l.clone(),
            node: node.to_owned(),
        };
        out.write_all(schema.encode(&record).as_bytes())?;
        out.write_all(b"\n")?;
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    // Data on disk before the rename publishes it.
    file.sync_all()
}

/// Reads the spool at `path`. `Ok(None)` when there is none.
pub(crate) fn read(path: &Path) -> Result<Option<Spooled>, ReadError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let corrupt = |line: usize, why: String| ReadError::Corrupt { line, why };
    let mut lines = BufReader::new(file).lines();
    let first = lines
        .next()
        .ok_or_else(|| corrupt(1, "empty file, no header".into()))??;
    let header: Header = serde_json::from_str(&first)
        .map_err(|e| corrupt(1, format!("not a spool header ({e})")))?;
    if header.version != VERSION {
        return Err(corrupt(
            1,
            format!(
                "format version {}, this aae reads version {VERSION}",
                header.version
            ),
        ));
    }
    let schema = RedisSchema::default();
    // The header's count is only a claim: do not reserve more than a
    // queue could ever hold because of it.
    let mut leases = Vec::with_capacity(header.leases.min(1 << 16) as usize);
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let line = line?;
        if leases.len() as u64 == header.leases {
            return Err(corrupt(
                n,
                format!("more lines than the {} the header counts", header.leases),
            ));
        }
        let record = schema
            .decode(line.as_bytes())
            .map_err(|e| corrupt(n, e.to_string()))?;
        leases.push(record.lease);
    }
    if leases.len() as u64 != header.leases {
        return Err(corrupt(
            leases.len() + 2,
            format!(
                "the header counts {} leases, the file holds {}",
                header.leases,
                leases.len()
            ),
        ));
    }
    Ok(Some(Spooled {
        leases,
        node: header.node,
        written: header.written,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::queue::{Outcome, Queue, Sink};
    use lease_model::{Hostname, LeaseEvent, RedisWrite};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system's temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "aae-spool-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn lease(ip: &str, event: LeaseEvent, host: &[u8]) -> Lease {
        Lease::new(
            ip.parse().unwrap(),
            "aa:bb:cc:dd:ee:ff".parse().unwrap(),
            3600,
            1_795_507_200,
            Hostname::from_bytes(host),
            7,
            event,
        )
    }

    #[test]
    fn a_lease_line_is_lease_models_redis_value() {
        let l = lease("192.0.2.10", LeaseEvent::Renew, b"printer-\xff\\3");
        let dir = TempDir::new();
        let path = dir.0.join("spool");
        write(&path, "dhcp-a", std::slice::from_ref(&l), 5).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let record = LeaseRecord {
            lease: l,
            node: "dhcp-a".into(),
        };
        let RedisWrite::Set { value, .. } = RedisSchema::default().write_for(&record, 0) else {
            panic!("a live lease is set");
        };
        assert_eq!(
            text,
            format!(
                "{{\"aae-arpwatch-spool\":1,\"leases\":1,\"node\":\"dhcp-a\",\"written\":5}}\n{value}\n"
            )
        );
    }

    #[test]
    fn round_trip_keeps_every_lease_and_leaves_no_temp_file() {
        let dir = TempDir::new();
        let path = dir.0.join("aae.spool");
        let leases: Vec<Lease> = LeaseEvent::ALL
            .iter()
            .enumerate()
            .map(|(i, e)| lease(&format!("192.0.2.{i}"), *e, format!("h{i}\t\n").as_bytes()))
            .chain([lease("2001:db8::7", LeaseEvent::Release, b"")])
            .collect();
        write(&path, "node-1", &leases, 1_800_000_000).unwrap();
        assert!(!temp_path(&path).exists());
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), leases.len() + 1, "{text}");
        let spooled = read(&path).unwrap().unwrap();
        assert_eq!(spooled.leases, leases);
        assert_eq!(
            (spooled.node.as_str(), spooled.written),
            ("node-1", 1_800_000_000)
        );
        // An empty spool is valid too.
        write(&path, "node-1", &[], 0).unwrap();
        assert!(read(&path).unwrap().unwrap().leases.is_empty());
        assert!(read(&dir.0.join("none")).unwrap().is_none());
    }

    #[test]
    fn a_spool_that_is_not_whole_is_refused_with_the_line() {
        let dir = TempDir::new();
        let path = dir.0.join("spool");
        let two = [
            lease("192.0.2.1", LeaseEvent::Select, b"a"),
            lease("192.0.2.2", LeaseEvent::Expire, b"b"),
        ];
        write(&path, "n", &two, 0).unwrap();
        let good = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let cases = [
            (String::new(), 1, "no header"),
            ("garbage\n".into(), 1, "not a spool header"),
            (good.replace("spool\":1", "spool\":2"), 1, "version 2"),
            (
                format!("{}\n{}\n", lines[0], lines[1]),
                3,
                "counts 2 leases, the file holds 1",
            ),
            (format!("{good}{}\n", lines[2]), 4, "more lines"),
            (
                format!("{}\n{}\n{{\"v\":1}}\n", lines[0], lines[1]),
                3,
                "not a valid record",
            ),
            (good.replace("192.0.2.2", "192.0.2"), 3, "not a valid"),
            (good.replace("expire", "vanish"), 3, "vanish"),
        ];
        for (text, line, why) in cases {
            fs::write(&path, &text).unwrap();
            match read(&path) {
                Err(ReadError::Corrupt { line: l, why: w }) => {
                    assert_eq!(l, line, "{text:?}: {w}");
                    assert!(w.contains(why), "{text:?}: {w:?} lacks {why:?}");
                }
                other => panic!("{text:?} was read as {other:?}"),
            }
        }
        fs::write(&path, b"\xff\xfe\n").unwrap();
        assert!(matches!(read(&path), Err(ReadError::Io(_))));
    }

    #[test]
    fn check_writable_creates_nothing_and_names_the_problem() {
        let dir = TempDir::new();
        let spool = dir.0.join("aae.spool");
        check_writable(&spool).unwrap();
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 0);
        let missing = dir.0.join("no/such/dir/spool");
        assert!(
            check_writable(&missing)
                .unwrap_err()
                .contains("No such file")
        );
        fs::write(dir.0.join("file"), b"").unwrap();
        let under_file = dir.0.join("file/spool");
        assert!(
            check_writable(&under_file)
                .unwrap_err()
                .contains("not a directory")
        );
        assert!(
            check_writable(&dir.0)
                .unwrap_err()
                .contains("is a directory")
        );
    }

    #[test]
    fn a_failed_write_keeps_the_previous_spool() {
        let dir = TempDir::new();
        let path = dir.0.join("spool");
        let one = [lease("192.0.2.1", LeaseEvent::Select, b"a")];
        write(&path, "n", &one, 0).unwrap();
        // The temp file's name is taken by a directory: creating it fails.
        fs::create_dir(temp_path(&path)).unwrap();
        assert!(write(&path, "n", &[], 0).is_err());
        assert_eq!(read(&path).unwrap().unwrap().leases, one);
    }

    #[test]
    fn the_queue_gives_back_what_arpwatch_has_not_confirmed_and_takes_it_for_arpwatch_only() {
        let q = Queue::new(10, true);
        for i in 1..=4 {
            q.push(
                lease(&format!("192.0.2.{i}"), LeaseEvent::Select, b""),
                true,
            );
        }
        let mut a = Vec::new();
        q.take(Sink::Arpwatch, 10, &mut a);
        a.sort_by_key(|l| l.ip);
        // .1 confirmed, .2 failed (dirty again), .3 and .4 still in flight.
        q.finish(
            Sink::Arpwatch,
            [(a[0].ip, Outcome::Done), (a[1].ip, Outcome::Retry)],
        );
        let mut left: Vec<_> = q.unconfirmed_arpwatch().iter().map(|l| l.ip).collect();
        left.sort();
        assert_eq!(left, a[1..].iter().map(|l| l.ip).collect::<Vec<_>>());

        let q = Queue::new(1, true);
        q.restore_arpwatch(lease("192.0.2.1", LeaseEvent::Release, b""));
        // Never dropped for capacity, like a resync.
        q.restore_arpwatch(lease("192.0.2.2", LeaseEvent::Select, b""));
        assert_eq!(q.len(), 2);
        let mut r = Vec::new();
        q.take(Sink::Redis, 10, &mut r);
        assert!(r.is_empty(), "a restored notice went to Redis: {r:?}");
        // A newer event replaces the spooled state.
        let newer = lease("192.0.2.1", LeaseEvent::Select, b"new");
        q.push(newer.clone(), true);
        let mut a = Vec::new();
        q.take(Sink::Arpwatch, 10, &mut a);
        a.sort_by_key(|l| l.ip);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0], newer);
        q.finish(Sink::Arpwatch, a.iter().map(|l| (l.ip, Outcome::Done)));
        let mut r = Vec::new();
        q.take(Sink::Redis, 10, &mut r);
        assert_eq!(r, [newer]);
        q.finish(Sink::Redis, r.iter().map(|l| (l.ip, Outcome::Done)));
        assert_eq!(q.len(), 0);

        // Pending from a resync (Redis only): that newer state is owed to
        // ARPwatch now, the spooled one is not.
        let resync = lease("192.0.2.3", LeaseEvent::Renew, b"db");
        q.push(resync.clone(), false);
        q.restore_arpwatch(lease("192.0.2.3", LeaseEvent::Select, b"old"));
        let mut a = Vec::new();
        q.take(Sink::Arpwatch, 10, &mut a);
        assert_eq!(a, [resync]);

        // Without ARPwatch nothing is queued.
        let q = Queue::new(10, false);
        q.restore_arpwatch(lease("192.0.2.1", LeaseEvent::Select, b""));
        assert_eq!(q.len(), 0);
    }
}
