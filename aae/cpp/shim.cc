// Callouts and Kea services for libdhcp_aae. Shape follows Kea's own hooks
// (run_script_callouts.cc): each callout fetches its arguments, converts them
// to a LeaseView, calls Rust, catches everything and returns 0 so Kea goes on.
// Which events matter and what to do with them is decided in Rust.
//
// The callouts live in an anonymous namespace on purpose: the library is
// registered with handle.registerCallout() in load(), and a symbol named
// after a hook point would make Kea register it a second time by dlsym.

// Kea's own build settings first, as in Kea's hooks: some of its headers
// (crypto_tls.h, which Kea 3.0's cfgmgr.h pulls in) refuse to compile
// without them. Every kea-dev ships it.
#include <config.h>

#include "aae/cpp/shim.h"
#include "aae/src/kea/ffi.rs.h"

#include <dhcp/dhcp4.h>
#include <dhcp/dhcp6.h>
#include <dhcp/pkt4.h>
#include <dhcp/pkt6.h>
#include <dhcpsrv/lease.h>
#include <dhcpsrv/lease_mgr.h>
#include <dhcpsrv/lease_mgr_factory.h>
#include <dhcpsrv/timer_mgr.h>
#include <asiolink/io_address.h>
#include <cc/data.h>
#include <hooks/callout_handle.h>
#include <hooks/hooks.h>
#include <hooks/server_hooks.h>
#include <log/log_dbglevels.h>
#include <log/logger.h>
#include <log/macros.h>
#include <log/message_dictionary.h>
#include <stats/stats_mgr.h>

#include <exception>

// Kea 2.6+ (build.rs finds getOfferLft in dhcpsrv/network.h): a DISCOVER may
// write a lease for the offer. CfgMgr's headers are complete there (on 3.0
// they reach the TLS headers: config.h above, OpenSSL linked by build.rs).
#ifdef AAE_KEA_OFFER_LIFETIME
#include <dhcpsrv/cfgmgr.h>
#endif

using isc::dhcp::HWAddrPtr;
using isc::dhcp::Lease;
using isc::dhcp::Lease4CollectionPtr;
using isc::dhcp::Lease4Ptr;
using isc::dhcp::Lease6CollectionPtr;
using isc::dhcp::Lease6Ptr;
using isc::dhcp::Pkt4Ptr;
using isc::dhcp::Pkt6Ptr;
using isc::hooks::CalloutHandle;

namespace aae {
namespace ffi {
namespace {

// Kea keeps logger names short; "aae" shows up as "kea-dhcp4.aae".
isc::log::Logger logger("aae");

const char* const STATS_TIMER = "aae-stats";

rust::Slice<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

rust::Slice<const uint8_t> bytes(const HWAddrPtr& hw) {
    if (!hw) {
        return {};
    }
    return {hw->hwaddr_.data(), hw->hwaddr_.size()};
}

// Fills what a v4 and a v6 lease have in common. The slices borrow the
// lease's own storage and are only valid for the duration of the call.
void common(LeaseView& v, const Lease& lease, uint8_t query_type) {
    v.hwaddr = bytes(lease.hwaddr_);
    v.hostname = bytes(lease.hostname_);
    v.valid_lft = lease.valid_lft_;
    v.cltt = static_cast<int64_t>(lease.cltt_);
    v.subnet_id = lease.subnet_id_;
    v.state = lease.state_;
    v.query_type = query_type;
}

// Whether Kea wrote this lease for an offer: one in the default state whose
// lifetime is its subnet's offer-lifetime (Kea gives an offered lease exactly
// that, and nothing in the lease says so otherwise). An offer-lifetime set
// only in a client class is not seen here.
bool offered(const isc::dhcp::Lease4& lease) {
#ifdef AAE_KEA_OFFER_LIFETIME
    if (lease.state_ != Lease::STATE_DEFAULT || lease.valid_lft_ == 0) {
        return false;
    }
    auto subnet = isc::dhcp::CfgMgr::instance().getCurrentCfg()->getCfgSubnets4()->getBySubnetId(
        lease.subnet_id_);
    if (!subnet) {
        return false;
    }
    const auto lft = subnet->getOfferLft();
    return !lft.unspecified() && lft.get() > 0 && lft.get() == lease.valid_lft_;
#else
    (void)lease;
    return false;
#endif
}

void send4(Origin origin, const Lease4Ptr& lease, uint8_t query_type,
           bool ciaddr_set = false) {
    if (!lease) {
        return;
    }
    LeaseView v{};
    v.family = 4;
    v.ciaddr_set = ciaddr_set;
    // Only what is read from the database can be an offer; the packet hook
    // points never see one, and pay nothing for the look-up.
    v.offered = (origin == Origin::Resync || origin == Origin::Command) && offered(*lease);
    uint32_t a = lease->addr_.toUint32();
    v.ip[0] = a >> 24;
    v.ip[1] = a >> 16;
    v.ip[2] = a >> 8;
    v.ip[3] = a;
    common(v, *lease, query_type);
    on_lease(origin, v);
}

void send6(Origin origin, const Lease6Ptr& lease, uint8_t query_type,
           bool rapid_commit) {
    if (!lease) {
        return;
    }
    LeaseView v{};
    v.family = 6;
    std::vector<uint8_t> a = lease->addr_.toBytes();
    for (size_t i = 0; i < a.size() && i < v.ip.size(); ++i) {
        v.ip[i] = a[i];
    }
    v.lease_type = static_cast<uint8_t>(lease->type_);
    v.rapid_commit = rapid_commit;
    common(v, *lease, query_type);
    on_lease(origin, v);
}

uint8_t type_of(const Pkt4Ptr& q) { return q ? q->getType() : 0; }
uint8_t type_of(const Pkt6Ptr& q) { return q ? q->getType() : 0; }

// Runs a callout body; any C++ exception is reported to Rust (which logs it)
// and swallowed, so Kea carries on with the packet.
template <typename F>
int guarded(const char* hook, F body) noexcept {
    try {
        body();
    } catch (const std::exception& e) {
        try {
            on_callout_error(hook, bytes(std::string(e.what())));
        } catch (...) {
        }
    } catch (...) {
        try {
            on_callout_error(hook, bytes(std::string("unknown exception")));
        } catch (...) {
        }
    }
    return 0;
}

int leases4_committed(CalloutHandle& handle) {
    return guarded("leases4_committed", [&] {
        Pkt4Ptr query;
        handle.getArgument("query4", query);
        Lease4CollectionPtr leases;
        handle.getArgument("leases4", leases);
        Lease4CollectionPtr deleted;
        handle.getArgument("deleted_leases4", deleted);
        uint8_t qt = type_of(query);
        bool ciaddr_set = query && !query->getCiaddr().isV4Zero();
        if (leases) {
            for (const Lease4Ptr& l : *leases) {
                send4(Origin::Committed, l, qt, ciaddr_set);
            }
        }
        if (deleted) {
            for (const Lease4Ptr& l : *deleted) {
                send4(Origin::CommittedDeleted, l, qt);
            }
        }
    });
}

template <Origin O>
int lease4_single(CalloutHandle& handle, const char* hook) {
    return guarded(hook, [&] {
        Lease4Ptr lease;
        handle.getArgument("lease4", lease);
        uint8_t qt = 0;
        if (O != Origin::Expire) {
            Pkt4Ptr query;
            handle.getArgument("query4", query);
            qt = type_of(query);
        }
        send4(O, lease, qt);
    });
}

int lease4_release(CalloutHandle& h) { return lease4_single<Origin::Release>(h, "lease4_release"); }
int lease4_decline(CalloutHandle& h) { return lease4_single<Origin::Decline>(h, "lease4_decline"); }
int lease4_expire(CalloutHandle& h) { return lease4_single<Origin::Expire>(h, "lease4_expire"); }
// Kea 2.6+: the server itself declined an address a ping check found in use.
int lease4_server_decline(CalloutHandle& h) {
    return lease4_single<Origin::Decline>(h, "lease4_server_decline");
}

int leases6_committed(CalloutHandle& handle) {
    return guarded("leases6_committed", [&] {
        Pkt6Ptr query;
        handle.getArgument("query6", query);
        Lease6CollectionPtr leases;
        handle.getArgument("leases6", leases);
        Lease6CollectionPtr deleted;
        handle.getArgument("deleted_leases6", deleted);
        uint8_t qt = type_of(query);
        // Only a SOLICIT needs it, and getOption() may copy the option here
        // (Kea enables option copying for this hook), so ask only then.
        bool rapid = query && qt == DHCPV6_SOLICIT &&
                     query->getOption(D6O_RAPID_COMMIT);
        if (leases) {
            for (const Lease6Ptr& l : *leases) {
                send6(Origin::Committed, l, qt, rapid);
            }
        }
        if (deleted) {
            for (const Lease6Ptr& l : *deleted) {
                send6(Origin::CommittedDeleted, l, qt, rapid);
            }
        }
    });
}

template <Origin O>
int lease6_single(CalloutHandle& handle, const char* hook) {
    return guarded(hook, [&] {
        Lease6Ptr lease;
        handle.getArgument("lease6", lease);
        uint8_t qt = 0;
        if (O != Origin::Expire) {
            Pkt6Ptr query;
            handle.getArgument("query6", query);
            qt = type_of(query);
        }
        send6(O, lease, qt, false);
    });
}

int lease6_release(CalloutHandle& h) { return lease6_single<Origin::Release>(h, "lease6_release"); }
int lease6_decline(CalloutHandle& h) { return lease6_single<Origin::Decline>(h, "lease6_decline"); }
int lease6_expire(CalloutHandle& h) { return lease6_single<Origin::Expire>(h, "lease6_expire"); }

// Every command Kea processed, from its control socket, the control agent or
// HA's own listener (then on one of its threads): lease commands and HA's
// partner updates change the lease database without any packet hook point.
// Rust says which it wants; only those are turned into text.
int command_processed(CalloutHandle& handle) {
    return guarded("command_processed", [&] {
        std::string name;
        handle.getArgument("name", name);
        if (!command_wanted(name)) {
            return;
        }
        isc::data::ConstElementPtr arguments;
        handle.getArgument("arguments", arguments);
        isc::data::ConstElementPtr response;
        handle.getArgument("response", response);
        const std::string args_text = arguments ? arguments->str() : std::string();
        const std::string response_text = response ? response->str() : std::string();
        on_command(name, bytes(args_text), bytes(response_text));
    });
}

// The lease database and Kea's timers are only ready once the server is
// configured; load() is too early for either.
int dhcp4_srv_configured(CalloutHandle&) {
    return guarded("dhcp4_srv_configured", [] { on_server_configured(4); });
}

int dhcp6_srv_configured(CalloutHandle&) {
    return guarded("dhcp6_srv_configured", [] { on_server_configured(6); });
}

} // namespace

int32_t hooks_version() noexcept {
    return KEA_HOOKS_VERSION;
}

// Which server loaded us, told by the hook points it declares (CfgMgr would
// say too, but its header drags in much more of what kea-dev lacks).
uint8_t server_family() noexcept {
    try {
        const auto& hooks = isc::hooks::ServerHooks::getServerHooks();
        if (hooks.findIndex("leases6_committed") >= 0) {
            return 6;
        }
        if (hooks.findIndex("leases4_committed") >= 0) {
            return 4;
        }
    } catch (...) {
    }
    return 0;
}

std::unique_ptr<std::string> parameters_json(isc::hooks::LibraryHandle& handle) {
    isc::data::ConstElementPtr params = handle.getParameters();
    return std::make_unique<std::string>(params ? params->str() : "{}");
}

void register_callouts(isc::hooks::LibraryHandle& handle, uint8_t family) {
    if (family == 6) {
        handle.registerCallout("leases6_committed", leases6_committed);
        handle.registerCallout("lease6_release", lease6_release);
        handle.registerCallout("lease6_decline", lease6_decline);
        handle.registerCallout("lease6_expire", lease6_expire);
        handle.registerCallout("dhcp6_srv_configured", dhcp6_srv_configured);
        handle.registerCallout("command_processed", command_processed);
    } else {
        handle.registerCallout("leases4_committed", leases4_committed);
        handle.registerCallout("lease4_release", lease4_release);
        handle.registerCallout("lease4_decline", lease4_decline);
        handle.registerCallout("lease4_expire", lease4_expire);
        handle.registerCallout("dhcp4_srv_configured", dhcp4_srv_configured);
        handle.registerCallout("command_processed", command_processed);
        // Hook points newer Kea versions declare, found by name rather than
        // by version: registering one the server lacks would throw.
        if (isc::hooks::ServerHooks::getServerHooks().findIndex("lease4_server_decline") >= 0) {
            handle.registerCallout("lease4_server_decline", lease4_server_decline);
        }
    }
}

namespace {

isc::asiolink::IOAddress address(uint8_t family, rust::Slice<const uint8_t> ip) {
    if (ip.size() != 16) {
        isc_throw(isc::BadValue, "an address is 16 octets here, not " << ip.size());
    }
    if (family == 6) {
        return isc::asiolink::IOAddress::fromBytes(AF_INET6, ip.data());
    }
    return isc::asiolink::IOAddress((uint32_t(ip[0]) << 24) | (uint32_t(ip[1]) << 16) |
                                    (uint32_t(ip[2]) << 8) | uint32_t(ip[3]));
}

void walked(const Lease4Ptr& l) { send4(Origin::Resync, l, 0); }
void walked(const Lease6Ptr& l) { send6(Origin::Resync, l, 0, false); }

template <typename Collection>
WalkPage report_page(const Collection& leases) {
    WalkPage page{};
    for (const auto& l : leases) {
        walked(l);
    }
    page.count = static_cast<uint32_t>(leases.size());
    if (!leases.empty()) {
        std::vector<uint8_t> last = leases.back()->addr_.toBytes();
        for (size_t i = 0; i < last.size() && i < page.last.size(); ++i) {
            page.last[i] = last[i];
        }
    }
    return page;
}

} // namespace

// One page per call, so the walk never holds Kea's lease manager (memfile
// locks it for the copy) for more than a page's worth of leases.
WalkPage walk_page(uint8_t family, rust::Slice<const uint8_t> from, uint32_t limit) {
    isc::dhcp::LeaseMgr& mgr = isc::dhcp::LeaseMgrFactory::instance();
    const isc::dhcp::LeasePageSize size(limit);
    if (family == 6) {
        return report_page(mgr.getLeases6(address(6, from), size));
    }
    return report_page(mgr.getLeases4(address(4, from), size));
}

bool lease_by_address(uint8_t family, rust::Slice<const uint8_t> ip) {
    isc::dhcp::LeaseMgr& mgr = isc::dhcp::LeaseMgrFactory::instance();
    if (family == 6) {
        Lease6Ptr l = mgr.getLease6(Lease::TYPE_NA, address(6, ip));
        send6(Origin::Command, l, 0, false);
        return static_cast<bool>(l);
    }
    Lease4Ptr l = mgr.getLease4(address(4, ip));
    send4(Origin::Command, l, 0);
    return static_cast<bool>(l);
}

// Rust formats the whole line; each ID is registered with the text "%1" so
// Kea's logger prints it under its own ID and severity settings.
void log_register(rust::Str id) noexcept {
    try {
        isc::log::MessageDictionary::globalDictionary()->add(std::string(id), "%1");
    } catch (...) {
    }
}

void log_unregister(rust::Str id) noexcept {
    try {
        isc::log::MessageDictionary::globalDictionary()->erase(std::string(id), "%1");
    } catch (...) {
    }
}

// Lets Rust skip formatting a line Kea's severity settings would drop.
bool log_enabled(uint8_t severity) noexcept {
    try {
        switch (severity) {
        case 0:
            return logger.isDebugEnabled(isc::log::DBGLVL_TRACE_BASIC);
        case 1:
            return logger.isInfoEnabled();
        case 2:
            return logger.isWarnEnabled();
        default:
            return logger.isErrorEnabled();
        }
    } catch (...) {
        return true;
    }
}

void log_write(uint8_t severity, rust::Str id, rust::Str text) noexcept {
    try {
        const std::string ident(id);
        const char* mid = ident.c_str();
        switch (severity) {
        case 0:
            LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, mid).arg(std::string(text));
            break;
        case 1:
            LOG_INFO(logger, mid).arg(std::string(text));
            break;
        case 2:
            LOG_WARN(logger, mid).arg(std::string(text));
            break;
        default:
            LOG_ERROR(logger, mid).arg(std::string(text));
            break;
        }
    } catch (...) {
    }
}

// StatsMgr only locks in multi-threaded mode, so it must be written from
// Kea's main thread: TimerMgr runs its callbacks there. TimerMgr owns only a
// std::function we give it, destroyed synchronously by unregisterTimer, so no
// handler of ours can outlive the library in Kea's IO service.
void stats_timer_start(uint32_t interval_ms) {
    const auto& timers = isc::dhcp::TimerMgr::instance();
    if (timers->isTimerRegistered(STATS_TIMER)) {
        timers->unregisterTimer(STATS_TIMER);
    }
    timers->registerTimer(STATS_TIMER, [] {
        try {
            publish_stats();
        } catch (...) {
        }
    }, interval_ms, isc::asiolink::IntervalTimer::REPEATING);
    timers->setup(STATS_TIMER);
}

void stats_timer_stop() noexcept {
    try {
        const auto& timers = isc::dhcp::TimerMgr::instance();
        if (timers->isTimerRegistered(STATS_TIMER)) {
            timers->unregisterTimer(STATS_TIMER);
        }
    } catch (...) {
    }
}

void stat_set(rust::Str name, int64_t value) noexcept {
    try {
        isc::stats::StatsMgr::instance().setValue(std::string(name), value);
    } catch (...) {
    }
}

void stat_set_text(rust::Str name, rust::Str value) noexcept {
    try {
        isc::stats::StatsMgr::instance().setValue(std::string(name), std::string(value));
    } catch (...) {
    }
}

void stat_del(rust::Str name) noexcept {
    try {
        isc::stats::StatsMgr::instance().del(std::string(name));
    } catch (...) {
    }
}

} // namespace ffi
} // namespace aae
