#!/usr/bin/perl
# Reads XML-RPC documents with Perl's RPC::XML parser and prints what it
# understood, in the typed JSON form (README.md).
#
# stdin: a JSON array of documents (strings). stdout: one JSON object per
# document, in order, as decode.py prints them. Used by tests/conformance.rs.

use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use JSON::PP;
use RPC::XML;
use RPC::XML::ParserFactory;
use Typed qw(typed);

$RPC::XML::ALLOW_NIL = 1;

my $json = JSON::PP->new->utf8->canonical;
my $docs = $json->decode(do { local $/; <STDIN> });
my $parser = RPC::XML::ParserFactory->new;

for my $doc (@$docs) {
    utf8::encode(my $bytes = $doc);
    my $got = eval { $parser->parse($bytes) };
    my $out;
    if (!defined $got) {
        $out = { kind => 'error', message => "died: $@" };
    } elsif (!ref $got) {
        $out = { kind => 'error', message => $got };
    } elsif ($got->isa('RPC::XML::request')) {
        $out = { kind => 'call', method => $got->name, params => [ map { typed($_) } @{ $got->args } ] };
    } elsif ($got->is_fault) {
        my $f = $got->value;
        $out = { kind => 'fault', code => 0 + $f->code, string => '' . $f->string };
    } else {
        $out = { kind => 'response', value => typed($got->value) };
    }
    print $json->encode($out), "\n";
}
