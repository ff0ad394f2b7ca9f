//! Where log lines go: journald (with priority and fields) when systemd
//! connected stderr to the journal, plain stderr otherwise.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

/// Installs the logger once, at start. Failing to reach journald falls back
/// to stderr, which systemd still collects.
pub fn init(level: LevelFilter) {
    log::set_max_level(level);
    // JOURNAL_STREAM can be inherited by a process systemd did not start
    // (a shell in a service); without journald's socket, records sent there
    // would vanish, so stderr is used instead.
    if crate::systemd::stderr_is_journal()
        && std::path::Path::new("/run/systemd/journal/socket").exists()
        && let Ok(j) = systemd_journal_logger::JournalLog::new()
        && log::set_boxed_logger(Box::new(Quiet(j))).is_ok()
    {
        return;
    }
    let _ = log::set_logger(&STDERR_QUIET);
}

/// rustls logs every handshake's details at debug ("decided upon suite
/// ..."); aai logs the outcome itself, so those lines show only at trace.
struct Quiet<L>(L);

fn chatty(m: &Metadata) -> bool {
    m.level() > log::Level::Info
        && log::max_level() < LevelFilter::Trace
        && (m.target().starts_with("rustls") || m.target().starts_with("tokio_rustls"))
}

impl<L: Log> Log for Quiet<L> {
    fn enabled(&self, m: &Metadata) -> bool {
        !chatty(m) && self.0.enabled(m)
    }

    fn log(&self, r: &Record) {
        if !chatty(r.metadata()) {
            self.0.log(r);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

static STDERR_QUIET: Quiet<Stderr> = Quiet(Stderr);

/// One line per record: `aai[LEVEL] target: message`. No timestamp: under
/// a supervisor or a terminal the reader adds its own.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(std::io::stderr().lock(), "aai[{}] {}", r.level(), r.args());
        }
    }

    fn flush(&self) {}
}
