#!/usr/bin/perl
# Writes the Perl conformance fixtures: XML-RPC documents made by RPC::XML
# (Debian's librpc-xml-perl), each with a JSON statement of the value it
# carries.
#
# Run from anywhere:  perl arpwatch-rpc/conformance/gen_fixtures.pl
# Output: arpwatch-rpc/conformance/fixtures/perl/NAME.xml and NAME.json.
#
# The expectation is derived from the RPC::XML value objects handed to the
# serializer (so with the types RPC::XML's smart encoding chose: a Perl
# integer beyond 32 bits becomes <i8>), never from the XML it wrote. The
# typed JSON form is described in README.md.

use strict;
use warnings;
use utf8;

# Struct members come out in hash order; a fixed seed keeps the fixtures
# stable from one run to the next.
BEGIN {
    if (($ENV{PERL_HASH_SEED} // '') ne '0') {
        $ENV{PERL_HASH_SEED}    = '0';
        $ENV{PERL_PERTURB_KEYS} = '0';
        exec $^X, $0, @ARGV or die "re-exec: $!";
    }
}

use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use FindBin;
use lib $FindBin::Bin;
use JSON::PP;
use RPC::XML;
use RPC::XML::Server;
use Typed qw(typed);

$RPC::XML::ALLOW_NIL = 1;

my $out = File::Spec->catdir(File::Spec->rel2abs(dirname($0)), 'fixtures', 'perl');
my @fixtures;

sub add {
    my ($name, $obj, $expect) = @_;
    my $doc = $obj->as_string;
    # RPC::XML declares us-ascii but serializes non-ASCII characters as raw
    # UTF-8 (see RPC::XML::serialize); write exactly those bytes.
    utf8::encode($doc);
    push @fixtures, [ $name, $doc, $expect ];
}

sub call {
    my ($name, $method, @params) = @_;
    my $req = RPC::XML::request->new($method, @params);
    add($name, $req, { kind => 'call', method => $method, params => [ map { typed($_) } @{ $req->args } ] });
}

sub call_expecting {
    my ($name, $method, $params, $expect) = @_;
    my $req = RPC::XML::request->new($method, @$params);
    add($name, $req, { kind => 'call', method => $method, params => $expect });
}

sub response {
    my ($name, $value) = @_;
    my $resp = RPC::XML::response->new($value);
    add($name, $resp, { kind => 'response', value => typed($resp->value) });
}

sub fault {
    my ($name, $code, $message) = @_;
    my $resp = RPC::XML::response->new(RPC::XML::fault->new($code, $message));
    add($name, $resp, { kind => 'fault', code => $code, string => '' . $message });
}

sub str { RPC::XML::string->new($_[0]) }

call('strings_whitespace', 'test.strings',
    str(' leading'), str('trailing '), str('  both  '), str("\n\tnewline and tab\n"), str(' '));
call('strings_markup', 'test.strings', str('a<b&c'), str('x > y'), str(']]>'), str(q{quote " apos '}));
call('strings_non_ascii', 'test.strings', str('ü'), str('日本'), str("emoji \x{1F600}"), str('Ωmega ∑ ≠ ∞'));
call('strings_empty', 'test.strings', str(''), str(''), str('x'));
call('booleans', 'test.booleans', RPC::XML::boolean->new(1), RPC::XML::boolean->new(0));
call('ints', 'test.ints', 0, 1, -1, 2147483647, -2147483648, RPC::XML::i4->new(42));
# RPC::XML's smart encoding writes integers beyond 32 bits as <i8>.
call('i8', 'test.i8', 2**31, -2**31 - 1, 2**40, 9223372036854775807, -9223372036854775807 - 1,
    RPC::XML::i8->new(7));
# RPC::XML writes doubles in fixed notation with many digits
# (0.1 as 0.10000000000000000555, 1e300 as 301 digits).
call('doubles', 'test.doubles', 0.5, -1.5, 0.1, 1 / 3, 1e300, 123456789.125, 2.5e-8,
    RPC::XML::double->new(1));
call('nil', 'test.nil', RPC::XML::nil->new, [ RPC::XML::nil->new ], { n => RPC::XML::nil->new });
call('datetimes', 'test.datetimes',
    RPC::XML::datetime_iso8601->new(RPC::XML::time2iso8601(1795424700)),    # with a Z
    RPC::XML::datetime_iso8601->new('2024-02-29T23:59:59'),                 # dashes, normalized by RPC::XML
    RPC::XML::datetime_iso8601->new('19700101T00:00:00+00:00'));
call_expecting('datetime_offset', 'test.datetimes',
    [ RPC::XML::datetime_iso8601->new('20261124T10:05:00+01:00') ],
    [ { type => 'dateTime.iso8601', value => '20261124T09:05:00' } ]);
call('base64', 'test.base64',
    RPC::XML::base64->new(''), RPC::XML::base64->new('abc'),
    RPC::XML::base64->new(join '', map { chr } 0 .. 255));
call('empty_containers', 'test.empty', [], {}, [ [] ], { e => {} });
call('nested', 'test.nested',
    { ip => str('192.0.2.1'), list => [ 1, str('two'), [ 3.5, [ RPC::XML::boolean->new(1), RPC::XML::nil->new ] ] ],
      matrix => [ [ 1, 2 ], [ 3, 4 ], [] ] });
call('no_params', 'system.listMethods');
call('lease_seen', 'arpwatch.lease_seen',
    { ip => str('192.0.2.10'), mac => str('00:11:22:33:44:55'),
      expires => RPC::XML::datetime_iso8601->new('20261124T10:05:00'),
      valid_lifetime => RPC::XML::int->new(3600), hostname => str('host-a'),
      subnet_id => RPC::XML::int->new(1), event => str('lease4_select'), node => str('kea-1') });
call('multicall_request', 'system.multicall',
    [ { methodName => str('arpwatch.get_mac'), params => [ str('192.0.2.1') ] },
      { methodName => str('arpwatch.lease_seen'), params => [ { ip => str('192.0.2.2'), valid_lifetime => 60 } ] },
      { methodName => str('system.listMethods'), params => [] } ]);
response('multicall_response',
    [ [ str('00:11:22:33:44:55') ], { faultCode => -32602, faultString => str("bad ip 'x'") }, [ RPC::XML::nil->new ] ]);
response('response_string', str('  spaced result  '));
response('response_nil', RPC::XML::nil->new);
response('response_i8', 2**40);
response('response_struct', { mac => str('00:11:22:33:44:55'), count => 3 });
# What RPC::XML's own server answers to system.multicall. Unlike the
# multicall convention (and Python), it does not wrap each result in a
# one-element array; and when one call faults it answers a document with a
# <fault> element inside a struct member, which is not XML-RPC at all.
{
    my $srv = RPC::XML::Server->new(no_http => 1);
    $srv->add_method({ name => 'arpwatch.get_mac', signature => ['string string'], code => sub {
        my (undef, $ip) = @_;
        return $ip eq 'bogus' ? RPC::XML::fault->new(-32602, "invalid IP address '$ip'") : '00:11:22:33:44:55';
    } });
    my $get_mac = sub { { methodName => str('arpwatch.get_mac'), params => [ str($_[0]) ] } };
    my $ok = $srv->dispatch(RPC::XML::request->new('system.multicall', [ $get_mac->('192.0.2.1'), $get_mac->('192.0.2.3') ]));
    add('multicall_response_from_RPC_XML_Server', $ok, { kind => 'response', value =>
        { type => 'array', value => [ map { { type => 'string', value => '00:11:22:33:44:55' } } 1 .. 2 ] } });
    my $bad = $srv->dispatch(RPC::XML::request->new('system.multicall', [ $get_mac->('192.0.2.1'), $get_mac->('bogus') ]));
    add('refused_multicall_fault_from_RPC_XML_Server', $bad, { kind => 'error', fault_code => -32600 });
}
fault('fault_invalid_params', -32602, q{bad ip 'x': <not an address> & more});
fault('fault_store', -32000, 'lease store unavailable');

make_path($out);
unlink glob(File::Spec->catfile($out, '*'));
my $json = JSON::PP->new->canonical->pretty->utf8;
for my $f (@fixtures) {
    my ($name, $doc, $expect) = @$f;
    $expect->{generator} = "perl $^V RPC::XML $RPC::XML::VERSION";
    open my $x, '>:raw', File::Spec->catfile($out, "$name.xml") or die "$name.xml: $!";
    print $x $doc;
    close $x;
    open my $j, '>:raw', File::Spec->catfile($out, "$name.json") or die "$name.json: $!";
    print $j $json->encode($expect);
    close $j;
}
printf "wrote %d fixtures to %s\n", scalar @fixtures, $out;
