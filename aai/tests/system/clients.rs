//! Independent clients get the answers docs/protocol.md promises.

use crate::fixture::{lease, require, run_script, setup, store};

const PYTHON: &str = r#"
import sys, xmlrpc.client as x
url = sys.argv[1]
p = x.ServerProxy(url, allow_none=True)
print("mac", p.arpwatch.get_mac("192.0.2.10"))
print("mac6", p.arpwatch.get_mac("2001:DB8:0::10"))
print("none", repr(p.arpwatch.get_mac("192.0.2.99")))
l = p.arpwatch.get_lease("192.0.2.10")
print("lease", l["mac"], l["ip"], l["node"], l["valid_lifetime"], type(l["expires"]).__name__)
print("lease-none", repr(p.arpwatch.get_lease("192.0.2.99")))
print("methods", ",".join(p.system.listMethods()))
print("help", "get_mac" in p.system.methodHelp("arpwatch.get_mac"))
m = x.MultiCall(p)
m.arpwatch.get_mac("192.0.2.10")
m.arpwatch.get_mac("192.0.2.99")
m.arpwatch.get_lease("2001:db8::10")
for r in m():
    print("multi", r if not isinstance(r, dict) else r["mac"])
m = x.MultiCall(p)
m.arpwatch.get_mac("not-an-ip")
try:
    list(m())
except x.Fault as f:
    print("multi-fault", f.faultCode)
for call in (lambda: p.arpwatch.get_mac("999.1.1.1"),
             lambda: p.arpwatch.get_mac(),
             lambda: p.arpwatch.nope("192.0.2.10")):
    try:
        call()
    except x.Fault as f:
        print("fault", f.faultCode)
"#;

#[test]
fn python_xmlrpc_client() {
    require("python3", &["-c", "import xmlrpc.client"], "python3");
    let (_redis, aai) = setup("");
    let out = run_script("python3", "-c", PYTHON, &[&aai.url()]);
    let want = "\
mac aa:bb:cc:dd:ee:01
mac6 aa:bb:cc:dd:ee:02
none None
lease aa:bb:cc:dd:ee:01 192.0.2.10 dhcp-test 3600 DateTime
lease-none None
methods arpwatch.get_lease,arpwatch.get_mac,system.listMethods,system.methodHelp,system.methodSignature,system.multicall
help True
multi aa:bb:cc:dd:ee:01
multi None
multi aa:bb:cc:dd:ee:02
multi-fault -32602
fault -32602
fault -32602
fault -32601
";
    assert_eq!(out, want, "aai log:\n{}", aai.log());
}

const PERL: &str = r#"
use strict; use warnings;
use RPC::XML; use RPC::XML::Client;
$RPC::XML::ALLOW_NIL = 1;
my $c = RPC::XML::Client->new($ARGV[0]);
sub show {
    my ($r) = @_;
    return "ERR $r" unless ref $r;
    return "FAULT " . $r->code if $r->is_fault;
    return "NIL" if $r->isa('RPC::XML::nil');
    return $r->value->{mac} . " " . $r->value->{subnet_id} if $r->isa('RPC::XML::struct');
    return $r->value;
}
print "mac ", show($c->send_request('arpwatch.get_mac', '192.0.2.10')), "\n";
print "none ", show($c->send_request('arpwatch.get_mac', '192.0.2.99')), "\n";
print "lease ", show($c->send_request('arpwatch.get_lease', '2001:db8::10')), "\n";
print "bad ", show($c->send_request('arpwatch.get_mac', 'x')), "\n";
print "unknown ", show($c->send_request('no.such')), "\n";
"#;

#[test]
fn perl_rpc_xml_client() {
    require(
        "perl",
        &["-MRPC::XML::Client", "-e1"],
        "Perl's RPC::XML (librpc-xml-perl)",
    );
    let (redis, aai) = setup("");
    store(&redis, &lease("192.0.2.11", "aa:bb:cc:dd:ee:03"));
    let out = run_script("perl", "-e", PERL, &[&aai.url()]);
    let want = "\
mac aa:bb:cc:dd:ee:01
none NIL
lease aa:bb:cc:dd:ee:02 7
bad FAULT -32602
unknown FAULT -32601
";
    assert_eq!(out, want, "aai log:\n{}", aai.log());
    aai.still_answers("192.0.2.11", "aa:bb:cc:dd:ee:03");
}
