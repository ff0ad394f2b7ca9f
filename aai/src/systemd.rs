//! The three things aai needs from systemd, each a few lines of the
//! documented protocol rather than a library: sockets passed in
//! (`sd_listen_fds(3)`), readiness and stop notices (`sd_notify(3)`), and
//! whether stderr is connected to the journal (`systemd.exec(5)`,
//! `JOURNAL_STREAM`).

use std::io;
use std::os::fd::{FromRawFd, RawFd};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// Takes the listening TCP sockets systemd passed to this process, if any.
///
/// Returns an empty list when `LISTEN_PID` names another process or is
/// unset, i.e. when not socket-activated. The variables are removed so a
/// child never mistakes them for its own.
pub fn listen_fds() -> io::Result<Vec<std::net::TcpListener>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    // SAFETY: called from `main` before the runtime or any other thread
    // starts, so nothing reads the environment concurrently.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(Vec::new());
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let n: RawFd = fds.trim().parse().map_err(|_| {
        io::Error::other(format!(
            "LISTEN_FDS={fds:?} is not a number; check the .socket unit"
        ))
    })?;
    (LISTEN_FDS_START..LISTEN_FDS_START + n)
        .map(|fd| {
            check_tcp_listener(fd)?;
            // SAFETY: systemd passed us `fd` and nothing else in this
            // process owns it; it was checked to be a listening socket.
            let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
            set_cloexec(fd)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .collect()
}

fn check_tcp_listener(fd: RawFd) -> io::Result<()> {
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let mut accepting: libc::c_int = 0;
    let mut len2 = len;
    // SAFETY: plain getsockopt calls with correctly sized out-parameters.
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &raw mut len,
        ) == 0
            && libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ACCEPTCONN,
                (&raw mut accepting).cast(),
                &raw mut len2,
            ) == 0
    };
    if ok && ty == libc::SOCK_STREAM && accepting == 1 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "file descriptor {fd} passed by systemd is not a listening stream socket; \
             the .socket unit must use ListenStream="
        )))
    }
}

fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let r = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends `state` (e.g. `READY=1`) to the service manager. Does nothing when
/// `NOTIFY_SOCKET` is unset (not run by systemd, or `Type=` is not `notify`).
pub fn notify(state: &str) -> io::Result<()> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => notify_to(&path, state),
        None => Ok(()),
    }
}

/// Sends `state` to the datagram socket at `path`; a leading `@` names an
/// abstract socket.
fn notify_to(path: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), path)?;
    }
    Ok(())
}

/// How often systemd expects `WATCHDOG=1` (`WatchdogSec=` in the unit), or
/// `None` when the watchdog is off or meant for another process.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| std::time::Duration::from_micros(usec))
}

/// True when stderr is the journal stream systemd set up for this service,
/// so structured logging to journald loses nothing.
pub fn stderr_is_journal() -> bool {
    systemd_journal_logger::connected_to_journal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    #[test]
    fn notify_reaches_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("aai-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        notify_to(format!("@{name}").as_ref(), "STOPPING=1").unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
