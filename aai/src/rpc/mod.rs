//! The XML-RPC methods: one request document in, one response document out.
//! The method contract (names, parameters, faults) lives in
//! `arpwatch_rpc::contract`; this module only answers it from the store.

use std::sync::Arc;

use arpwatch_rpc::contract::{self, AaiRequest};
use arpwatch_rpc::{Fault, Limits, MethodResponse, Value, fault_code, multicall, xml};

use crate::metrics::{Metrics, Outcome};
use crate::store::{Store, StoreError};

/// Answers XML-RPC calls from the lease store.
pub struct Rpc {
    store: Store,
    metrics: Arc<Metrics>,
    limits: Limits,
}

impl Rpc {
    pub fn new(store: Store, metrics: Arc<Metrics>, limits: Limits) -> Self {
        Rpc {
            store,
            metrics,
            limits,
        }
    }

    /// The response document for a request document. Always a document:
    /// every failure is a fault inside it.
    pub async fn respond(&self, doc: &[u8]) -> Vec<u8> {
        let resp = self.answer_document(doc).await;
        if let Err(f) = &resp {
            self.metrics.fault(f.code);
        }
        match xml::write_response(&resp) {
            Ok(out) => out,
            Err(e) => {
                // Only a value from Redis can get here (a hostname the lease
                // model escapes cannot, so this is a bug): say so, never
                // send invalid XML.
                log::error!("cannot write the response: {e}; answering with a fault instead");
                self.metrics.fault(fault_code::INTERNAL_ERROR);
                let f = Fault::new(
                    fault_code::INTERNAL_ERROR,
                    format!("the answer could not be encoded as XML-RPC: {e}"),
                );
                xml::write_response(&Err(f)).expect("a fault of ASCII text always encodes")
            }
        }
    }

    async fn answer_document(&self, doc: &[u8]) -> MethodResponse {
        let call = match xml::parse_call(doc, &self.limits) {
            Ok(call) => call,
            Err(e) => {
                log::debug!("refused a request document: {e}");
                self.metrics.call("", Outcome::Fault);
                return Err(e.fault());
            }
        };
        let method = self.metrics.method_id(&call.method);
        let resp = match AaiRequest::from_call(call) {
            Err(f) => Err(f),
            Ok(AaiRequest::Multicall(entries)) => Ok(self.multicall(entries).await),
            Ok(req) => self.answer(&req).await,
        };
        self.metrics.call_id(method, outcome(&resp));
        resp
    }

    /// Entries run one after another, in order: they share one multiplexed
    /// Redis connection, and a multicall from ARPwatch is a handful of calls.
    /// Once the store is found unavailable, the remaining lookups get the
    /// same fault without another attempt, so a multicall waits for at most
    /// one Redis timeout however many entries it has.
    async fn multicall(&self, entries: Vec<Result<AaiRequest, Fault>>) -> Value {
        let mut results = Vec::with_capacity(entries.len());
        let mut store_down: Option<Fault> = None;
        for entry in entries {
            let (name, resp) = match entry {
                Ok(req) => {
                    let resp = match (&store_down, &req) {
                        (Some(f), AaiRequest::GetMac(_) | AaiRequest::GetLease(_)) => {
                            Err(f.clone())
                        }
                        _ => self.answer(&req).await,
                    };
                    (request_name(&req), resp)
                }
                Err(f) => ("", Err(f)),
            };
            if let Err(f) = &resp {
                if f.code == fault_code::STORE_UNAVAILABLE && store_down.is_none() {
                    store_down = Some(f.clone());
                }
                self.metrics.fault(f.code);
            }
            self.metrics.call(name, outcome(&resp));
            results.push(resp);
        }
        multicall::encode_results(results)
    }

    /// Answers a request other than a multicall (the contract never nests
    /// them: one inside a multicall is already a fault entry).
    async fn answer(&self, req: &AaiRequest) -> MethodResponse {
        if let Some(resp) = req.answer_introspection() {
            return resp;
        }
        match req {
            AaiRequest::GetMac(ip) => {
                let rec = self.lookup(*ip).await?;
                Ok(contract::mac_result(rec.map(|r| r.lease.hwaddr)))
            }
            AaiRequest::GetLease(ip) => {
                let rec = self.lookup(*ip).await?;
                Ok(contract::lease_result(rec.as_ref()))
            }
            _ => Err(Fault::new(
                fault_code::INVALID_REQUEST,
                "system.multicall cannot be nested inside system.multicall",
            )),
        }
    }

    async fn lookup(
        &self,
        ip: std::net::IpAddr,
    ) -> Result<Option<lease_model::LeaseRecord>, Fault> {
        self.store.lookup(ip).await.map_err(|e| match e {
            StoreError::Unavailable { .. } => {
                Fault::new(fault_code::STORE_UNAVAILABLE, e.to_string())
            }
            StoreError::Corrupt { .. } => {
                log::error!("lookup of {ip} failed: {e}; delete or rewrite the key");
                Fault::new(fault_code::INTERNAL_ERROR, e.to_string())
            }
        })
    }
}

fn outcome(resp: &MethodResponse) -> Outcome {
    match resp {
        Ok(Value::Nil) => Outcome::Nil,
        Ok(_) => Outcome::Ok,
        Err(_) => Outcome::Fault,
    }
}

fn request_name(req: &AaiRequest) -> &'static str {
    match req {
        AaiRequest::GetMac(_) => contract::GET_MAC,
        AaiRequest::GetLease(_) => contract::GET_LEASE,
        AaiRequest::ListMethods => contract::LIST_METHODS,
        AaiRequest::MethodHelp(_) => contract::METHOD_HELP,
        AaiRequest::MethodSignature(_) => contract::METHOD_SIGNATURE,
        AaiRequest::Multicall(_) => contract::MULTICALL,
    }
}
