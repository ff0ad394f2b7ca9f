// A hooks library with empty callouts on lease4_select and lease4_renew, the
// allocation engine's hook points: what Kea's hooks machinery costs per
// packet if aae took grants from there instead of leases4_committed (which
// Kea prepares a parking lot for). Built and loaded by the benchmarks as
// configuration "s".
#include <hooks/hooks.h>

namespace {
int empty(isc::hooks::CalloutHandle&) { return 0; }
} // namespace

extern "C" {
int version() { return KEA_HOOKS_VERSION; }
int multi_threading_compatible() { return 1; }
int load(isc::hooks::LibraryHandle& handle) {
    handle.registerCallout("lease4_select", empty);
    handle.registerCallout("lease4_renew", empty);
    return 0;
}
int unload() { return 0; }
}
