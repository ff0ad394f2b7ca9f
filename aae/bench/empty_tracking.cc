// A hooks library that hooks no packet at all: once the server is configured
// it registers TrackingLeaseMgr callbacks (Kea 2.6+) for every add, update
// and delete of a v4 lease, and each callback only reads the lease's fields
// as aae's shim would. aae/bench/instructions loads it as configuration "t":
// what Kea charges per DORA for the lease database as an event source, with
// no packet parked, so it can be set beside "e" (an empty leases4_committed
// callout) and aae itself. Built only against Kea headers that have
// dhcpsrv/tracking_lease_mgr.h.
#include <dhcpsrv/lease.h>
#include <dhcpsrv/lease_mgr_factory.h>
#include <dhcpsrv/tracking_lease_mgr.h>
#include <hooks/hooks.h>

#include <cstdint>
#include <exception>

using isc::dhcp::Lease;
using isc::dhcp::LeaseMgrFactory;
using isc::dhcp::LeasePtr;
using isc::dhcp::TrackingLeaseMgr;

namespace {

const char* const OWNER = "aae-bench-tracking";

// What the shim copies out of a lease; kept out of the optimiser's reach so
// the callback does the reads it would.
struct Plain {
    uint32_t addr;
    const uint8_t* hw;
    size_t hw_len;
    uint32_t valid_lft;
    int64_t cltt;
    uint32_t subnet_id;
    uint32_t state;
};

__attribute__((noinline)) void take(const Plain& p) { asm volatile("" : : "r"(&p) : "memory"); }

void seen(LeasePtr lease) {
    if (!lease) {
        return;
    }
    Plain p{};
    p.addr = lease->addr_.toUint32();
    if (lease->hwaddr_) {
        p.hw = lease->hwaddr_->hwaddr_.data();
        p.hw_len = lease->hwaddr_->hwaddr_.size();
    }
    p.valid_lft = lease->valid_lft_;
    p.cltt = lease->cltt_;
    p.subnet_id = lease->subnet_id_;
    p.state = lease->state_;
    take(p);
}

// Kea makes a new lease manager on every (re)configuration, with no
// callbacks: register on each.
int configured(isc::hooks::CalloutHandle&) {
    try {
        TrackingLeaseMgr& mgr = LeaseMgrFactory::instance();
        for (auto type : {TrackingLeaseMgr::TRACK_ADD_LEASE, TrackingLeaseMgr::TRACK_UPDATE_LEASE,
                          TrackingLeaseMgr::TRACK_DELETE_LEASE}) {
            mgr.registerCallback(type, OWNER, Lease::TYPE_V4, seen);
        }
    } catch (const std::exception&) {
        return 1;
    }
    return 0;
}

} // namespace

extern "C" {
int version() { return KEA_HOOKS_VERSION; }
int multi_threading_compatible() { return 1; }
int load(isc::hooks::LibraryHandle& handle) {
    handle.registerCallout("dhcp4_srv_configured", configured);
    return 0;
}
// The callbacks point into this library: take them out before it goes.
// (Only subnet-global v4 callbacks exist here: the bench's Kea uses the
// iterative allocator, which registers none.)
int unload() {
    try {
        if (LeaseMgrFactory::haveInstance()) {
            LeaseMgrFactory::instance().unregisterCallbacks(isc::dhcp::SUBNET_ID_GLOBAL, Lease::TYPE_V4);
        }
    } catch (...) {
    }
    return 0;
}
}
