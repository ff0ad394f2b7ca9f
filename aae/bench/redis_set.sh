#!/bin/sh
# What an operator would write for Kea's run_script hook instead of aae: one
# redis-cli per committed lease. run_script calls this for every hook point it
# knows, with the hook's name as $1 and the lease in LEASES4_AT0_* variables
# (and nothing else of the environment: no PATH, hence the full path); only a
# REQUEST's committed lease is a lease to export (the same choice as aae). The
# TTL is the valid lifetime plus aae's default grace period. The bench runs
# Redis on its default port inside Kea's network namespace.
[ "$1" = leases4_committed ] && [ "$QUERY4_TYPE" = DHCPREQUEST ] && [ "${LEASES4_SIZE:-0}" -gt 0 ] || exit 0
exec /usr/bin/redis-cli -h 127.0.0.1 -p 6379 SET "aae:lease:$LEASES4_AT0_ADDRESS" "$LEASES4_AT0_HWADDR" EX $((LEASES4_AT0_VALID_LIFETIME + 300)) >/dev/null
