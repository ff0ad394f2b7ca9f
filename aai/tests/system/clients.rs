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

/// docs/protocol.md shows responses "exactly as aai sends it": hold aai
/// (and the document) to that, byte for byte.
#[test]
fn responses_are_byte_for_byte_as_documented() {
    let (redis, aai) = setup("");
    store(&redis, &lease("192.0.2.10", "00:1b:2c:aa:bb:0f"));
    let protocol =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
            .expect("docs/protocol.md");
    let head = "<?xml version=\"1.0\"?>\n";
    let python_request = "<?xml version='1.0'?>\n<methodCall>\n<methodName>arpwatch.get_mac</methodName>\n<params>\n<param>\n<value><string>IP</string></value>\n</param>\n</params>\n</methodCall>\n";
    let multicall = "<?xml version='1.0'?>\n<methodCall>\n<methodName>system.multicall</methodName>\n<params><param><value><array><data>\
        <value><struct><member><name>methodName</name><value><string>arpwatch.get_mac</string></value></member><member><name>params</name><value><array><data><value><string>192.0.2.10</string></value></data></array></value></member></struct></value>\
        <value><struct><member><name>methodName</name><value><string>arpwatch.get_mac</string></value></member><member><name>params</name><value><array><data><value><string>192.0.2.99</string></value></data></array></value></member></struct></value>\
        <value><struct><member><name>methodName</name><value><string>arpwatch.get_mac</string></value></member><member><name>params</name><value><array><data><value><string>bogus</string></value></data></array></value></member></struct></value>\
        </data></array></value></param></params></methodCall>\n".to_owned();
    for (request, body) in [
        (
            python_request.replace("IP", "192.0.2.10"),
            "<methodResponse><params><param><value><string>00:1b:2c:aa:bb:0f</string></value></param></params></methodResponse>",
        ),
        (
            python_request.replace("IP", "192.0.2.99"),
            "<methodResponse><params><param><value><nil/></value></param></params></methodResponse>",
        ),
        (
            python_request.replace("IP", "10.0.0"),
            "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>-32602</int></value></member><member><name>faultString</name><value><string>parameter 1 (ip) of arpwatch.get_mac: invalid IP address \"10.0.0\": expected dotted IPv4 or RFC 4291 IPv6</string></value></member></struct></value></fault></methodResponse>",
        ),
        (
            multicall,
            "<methodResponse><params><param><value><array><data><value><array><data><value><string>00:1b:2c:aa:bb:0f</string></value></data></array></value><value><array><data><value><nil/></value></data></array></value><value><struct><member><name>faultCode</name><value><int>-32602</int></value></member><member><name>faultString</name><value><string>parameter 1 (ip) of arpwatch.get_mac: invalid IP address \"bogus\": expected dotted IPv4 or RFC 4291 IPv6</string></value></member></struct></value></data></array></value></param></params></methodResponse>",
        ),
    ] {
        let r = crate::fixture::http(
            aai.addr(),
            None,
            &crate::fixture::post("/RPC2", request.as_bytes()),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), "text/xml; charset=utf-8");
        let sent = r.text();
        let sent = sent.trim_end();
        assert_eq!(sent, format!("{head}{body}"), "for {request}");
        assert!(
            protocol.contains(sent),
            "docs/protocol.md does not show {sent}"
        );
    }
}
