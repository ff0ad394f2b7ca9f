// Stand-in for Kea 2.2's <dhcpsrv/cfg_globals.h>.
//
// Why this exists: Debian's kea-dev 2.2.0 does not install cfg_globals.h, yet
// <dhcpsrv/network.h> (and through it subnet.h and lease_mgr.h,
// which the shim needs for LeaseMgr::getLeases4/6) includes it. Those headers
// only need the class to be complete, its get(int) member and the names of
// its parameter indices, so that their inline getters parse.
//
// This is written from that need alone, not from Kea's file. The index values
// below are NOT Kea's: no code in libdhcp_aae may call a Network/Subnet getter
// that consults globals (getValid(), getT1(), ...), because the index it
// passed would be ours. The shim only reads Lease fields, which is safe.
// Delete this directory once kea-dev ships the real header.

#ifndef AAE_COMPAT_CFG_GLOBALS_H
#define AAE_COMPAT_CFG_GLOBALS_H

#include <cc/data.h>

#include <boost/shared_ptr.hpp>

#include <string>

namespace isc {
namespace dhcp {

class CfgGlobals {
public:
    // Names referenced by the installed headers; values deliberately unused.
    enum Index {
        AUTHORITATIVE, BOOT_FILE_NAME, CACHE_MAX_AGE, CACHE_THRESHOLD,
        CALCULATE_TEE_TIMES, DDNS_GENERATED_PREFIX, DDNS_OVERRIDE_CLIENT_UPDATE,
        DDNS_OVERRIDE_NO_UPDATE, DDNS_QUALIFYING_SUFFIX, DDNS_REPLACE_CLIENT_NAME,
        DDNS_SEND_UPDATES, DDNS_UPDATE_ON_RENEW, DDNS_USE_CONFLICT_RESOLUTION,
        HOSTNAME_CHAR_REPLACEMENT, HOSTNAME_CHAR_SET, MATCH_CLIENT_ID,
        MAX_PREFERRED_LIFETIME, MAX_VALID_LIFETIME, MIN_PREFERRED_LIFETIME,
        MIN_VALID_LIFETIME, NEXT_SERVER, PREFERRED_LIFETIME, REBIND_TIMER,
        RENEW_TIMER, RESERVATIONS_GLOBAL, RESERVATIONS_IN_SUBNET,
        RESERVATIONS_OUT_OF_POOL, SERVER_HOSTNAME, STORE_EXTENDED_INFO,
        T1_PERCENT, T2_PERCENT, VALID_LIFETIME
    };

    // Exported by libkea-dhcpsrv; declared so inline header code compiles.
    isc::data::ConstElementPtr get(int index) const;
    isc::data::ConstElementPtr get(const std::string& name) const;
};

typedef boost::shared_ptr<CfgGlobals> CfgGlobalsPtr;
typedef boost::shared_ptr<const CfgGlobals> ConstCfgGlobalsPtr;

} // namespace dhcp
} // namespace isc

#endif // AAE_COMPAT_CFG_GLOBALS_H
