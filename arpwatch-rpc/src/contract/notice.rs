//! What aae tells ARPwatch: one call per lease event.

use lease_model::LeaseRecord;

use super::lease::{lease_from_value, lease_to_value};
use super::spec::{MethodSpec, Param};
use crate::{Fault, MethodCall, fault_code};

pub const LEASE_SEEN: &str = "arpwatch.lease_seen";
pub const LEASE_GONE: &str = "arpwatch.lease_gone";

const LEASE: Param = Param {
    name: "lease",
    kind: "struct",
};

/// The methods ARPwatch serves for aae. ARPwatch should return `true` (or
/// nil); aae ignores any value and only logs a fault.
pub const ARPWATCH_METHODS: &[MethodSpec] = &[
    MethodSpec {
        name: LEASE_GONE,
        params: &[LEASE],
        returns: "boolean",
        may_return_nil: true,
        help: "A lease ended: released or declined by the client, or expired. \
               The struct's event is release, decline or expire.",
    },
    MethodSpec {
        name: LEASE_SEEN,
        params: &[LEASE],
        returns: "boolean",
        may_return_nil: true,
        help: "A lease was granted or extended: the device is present. \
               The struct's event is select, renew or rebind.",
    },
];

/// One notice from aae to ARPwatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArpwatchNotice {
    /// `arpwatch.lease_seen(lease)`: the event is select, renew or rebind.
    LeaseSeen(LeaseRecord),
    /// `arpwatch.lease_gone(lease)`: the event is release, decline or expire.
    LeaseGone(LeaseRecord),
}

impl ArpwatchNotice {
    /// The notice a record calls for, chosen by its event.
    pub fn for_record(record: LeaseRecord) -> Self {
        if record.lease.event.ends_lease() {
            ArpwatchNotice::LeaseGone(record)
        } else {
            ArpwatchNotice::LeaseSeen(record)
        }
    }

    pub fn record(&self) -> &LeaseRecord {
        match self {
            ArpwatchNotice::LeaseSeen(r) | ArpwatchNotice::LeaseGone(r) => r,
        }
    }

    pub fn method(&self) -> &'static str {
        match self {
            ArpwatchNotice::LeaseSeen(_) => LEASE_SEEN,
            ArpwatchNotice::LeaseGone(_) => LEASE_GONE,
        }
    }

    pub fn to_call(&self) -> MethodCall {
        MethodCall::new(self.method(), vec![lease_to_value(self.record())])
    }

    /// The receiving side (ARPwatch stand-ins in tests): checks the method,
    /// the single lease struct, and that its event fits the method.
    /// Faults as [`crate::contract::AaiRequest::from_call`] does: `-32601`
    /// for another method, `-32602` for anything wrong with the parameter.
    pub fn from_call(call: &MethodCall) -> Result<Self, Fault> {
        let Some(spec) = ARPWATCH_METHODS.iter().find(|m| m.name == call.method) else {
            return Err(Fault::new(
                fault_code::METHOD_NOT_FOUND,
                format!(
                    "no method {:?}; aae calls only {LEASE_SEEN} and {LEASE_GONE}",
                    call.method
                ),
            ));
        };
        spec.check_arity(call)?;
        let record = lease_from_value(&call.params[0]).map_err(|e| e.fault(&spec.context(0)))?;
        let notice = ArpwatchNotice::for_record(record);
        if notice.method() != spec.name {
            return Err(Fault::new(
                fault_code::INVALID_PARAMS,
                format!(
                    "{}: event {} belongs to {}, not {}",
                    spec.context(0),
                    notice.record().lease.event,
                    notice.method(),
                    spec.name
                ),
            ));
        }
        Ok(notice)
    }
}
