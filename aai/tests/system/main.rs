//! System tests of the aai binary: a real redis-server, aai as a process,
//! and independent clients (Python's xmlrpc.client, Perl's RPC::XML, raw
//! HTTP for what no polite client sends), over plain HTTP and TLS.

mod clients;
mod fixture;
mod hostile;
mod lifecycle;
mod outage;
mod pki;
mod redis_access;
mod sentinel;
mod tls;
