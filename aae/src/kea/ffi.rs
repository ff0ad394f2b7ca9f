//! The cxx bridge: the only declaration of what crosses between Kea's C++ and
//! Rust. Values go one way as plain data ([`bridge::LeaseView`]); Kea objects
//! never leave C++ except the opaque `LibraryHandle` passed to `load`.

#[cxx::bridge(namespace = "aae::ffi")]
pub(crate) mod bridge {
    /// Which Kea hook point (or the resync walk) produced a lease.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(u8)]
    enum Origin {
        /// `leases4_committed` / `leases6_committed`, list of new leases.
        Committed,
        /// The same hook's `deleted_leases*` list: leases the client lost.
        CommittedDeleted,
        Release,
        Decline,
        Expire,
        /// Read from the lease database by a reconciliation's walk.
        Resync,
        /// Read back from the lease database after an operator's lease
        /// command (`lease4-add`, `lease4-update`, ...) changed it.
        Command,
    }

    /// What one page of a reconciliation's walk read.
    #[derive(Debug)]
    struct WalkPage {
        /// Leases on the page; fewer than asked for means the last page.
        count: u32,
        /// The page's last address (network order, v4 in the first four
        /// octets): where the next page starts, after it.
        last: [u8; 16],
    }

    /// One Kea lease as plain values. The slices borrow Kea's memory for the
    /// duration of the call only.
    #[derive(Debug)]
    struct LeaseView<'a> {
        /// 4 or 6.
        family: u8,
        /// Network order; a v4 address fills the first four octets.
        ip: [u8; 16],
        /// Empty when Kea knows no hardware address (common for DHCPv6).
        hwaddr: &'a [u8],
        /// As the client sent it: bytes, not necessarily UTF-8.
        hostname: &'a [u8],
        valid_lft: u32,
        cltt: i64,
        subnet_id: u32,
        /// Kea's `Lease::Type` (0 NA or v4, 1 TA, 2 PD).
        lease_type: u8,
        /// Kea's `Lease::state_` (0 default, 1 declined, 2 expired-reclaimed).
        state: u32,
        /// DHCP message type of the query that caused the event, 0 if none.
        query_type: u8,
        /// DHCPv6 SOLICIT carrying Rapid Commit.
        rapid_commit: bool,
        /// DHCPv4 query with `ciaddr` set: a client renewing or rebinding
        /// the address it holds (RFC 2131 4.3.2), not selecting a new one.
        ciaddr_set: bool,
        /// A lease Kea 2.6+ wrote for an offer (`offer-lifetime`): its
        /// lifetime is its subnet's offer-lifetime. Only looked at for leases
        /// read from the database (walk, read-back), the only way aae meets
        /// one: `leases4_committed` never runs for an offer.
        offered: bool,
    }

    extern "Rust" {
        fn on_lease(origin: Origin, lease: &LeaseView);
        fn on_server_configured(family: u8);
        /// Whether `command_processed` should hand this command over at all.
        fn command_wanted(name: &str) -> bool;
        /// A command Kea processed: its arguments and response as JSON text.
        fn on_command(name: &str, arguments: &[u8], response: &[u8]);
        fn on_callout_error(hook: &str, what: &[u8]);
        fn publish_stats();
    }

    unsafe extern "C++" {
        include!("aae/cpp/shim.h");

        #[namespace = "isc::hooks"]
        type LibraryHandle;

        /// `KEA_HOOKS_VERSION` from the headers this library was built with.
        fn hooks_version() -> i32;
        /// 4 or 6, from the hook points the server declares; 0 if unknown.
        fn server_family() -> u8;
        /// The hook's `"parameters"` map as JSON text (`{}` when absent).
        fn parameters_json(handle: Pin<&mut LibraryHandle>) -> Result<UniquePtr<CxxString>>;
        fn register_callouts(handle: Pin<&mut LibraryHandle>, family: u8) -> Result<()>;
        /// Calls `on_lease(Resync, ..)` for up to `limit` leases of Kea's
        /// lease database with addresses after `from` (16 octets, as in
        /// `LeaseView::ip`), in address order.
        fn walk_page(family: u8, from: &[u8], limit: u32) -> Result<WalkPage>;
        /// Calls `on_lease(Command, ..)` with the lease Kea's lease
        /// database holds for `ip` (16 octets); false if it holds none.
        fn lease_by_address(family: u8, ip: &[u8]) -> Result<bool>;

        fn log_register(id: &str);
        fn log_unregister(id: &str);
        /// Whether Kea's logger would print a line of this severity.
        fn log_enabled(severity: u8) -> bool;
        fn log_write(severity: u8, id: &str, text: &str);

        fn stats_timer_start(interval_ms: u32) -> Result<()>;
        fn stats_timer_stop();
        fn stat_set(name: &str, value: i64);
        fn stat_set_text(name: &str, value: &str);
        fn stat_del(name: &str);
    }
}

use super::callouts::{
    command_wanted, on_callout_error, on_command, on_lease, on_server_configured, publish_stats,
};
