// A hooks library whose only callout, on leases4_committed, returns at once.
// aae/bench/run builds it and loads it as configuration "e": what Kea's own
// hooks machinery costs per packet when any library hooks leases4_committed,
// before a hook does anything, so aae's share can be told from Kea's.
#include <hooks/hooks.h>

namespace {
int committed(isc::hooks::CalloutHandle&) { return 0; }
} // namespace

extern "C" {
int version() { return KEA_HOOKS_VERSION; }
int multi_threading_compatible() { return 1; }
int load(isc::hooks::LibraryHandle& handle) {
    handle.registerCallout("leases4_committed", committed);
    return 0;
}
int unload() { return 0; }
}
