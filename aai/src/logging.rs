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
        && j.install().is_ok()
    {
        return;
    }
    let _ = log::set_logger(&STDERR);
}

static STDERR: Stderr = Stderr;

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
