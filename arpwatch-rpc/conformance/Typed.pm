# The typed JSON form of XML-RPC values (see README.md), for RPC::XML value
# objects, as the fixture generator builds them and the parser returns them.
package Typed;

use strict;
use warnings;
use Exporter 'import';
use JSON::PP ();
use MIME::Base64 qw(encode_base64);

our @EXPORT_OK = qw(typed);

sub typed {
    my ($v) = @_;
    my $ref = ref $v;
    if ($ref eq 'RPC::XML::struct') {
        return { type => 'struct', value => { map { $_ => typed($v->{$_}) } keys %$v } };
    }
    if ($ref eq 'RPC::XML::array') {
        return { type => 'array', value => [ map { typed($_) } @$v ] };
    }
    if ($ref eq 'RPC::XML::nil') { return { type => 'nil' } }
    if ($ref eq 'RPC::XML::int' or $ref eq 'RPC::XML::i4') {
        return { type => 'int', value => 0 + $v->value };
    }
    if ($ref eq 'RPC::XML::i8') { return { type => 'i8', value => 0 + $v->value } }
    if ($ref eq 'RPC::XML::boolean') {
        return { type => 'boolean', value => ($v->value ? JSON::PP::true : JSON::PP::false) };
    }
    if ($ref eq 'RPC::XML::double') {
        # 17 significant digits identify a double exactly.
        return { type => 'double', value => sprintf('%.17g', $v->value) };
    }
    # Interpolate: JSON::PP writes a scalar once used as a number as a number.
    if ($ref eq 'RPC::XML::string') { return { type => 'string', value => '' . $v->value } }
    if ($ref eq 'RPC::XML::base64') {
        return { type => 'base64', value => encode_base64($v->value, '') };
    }
    if ($ref eq 'RPC::XML::datetime_iso8601') {
        my $s = $v->value;
        # A zero offset means UTC, which is what a zone-less time means here.
        $s =~ s/(?:Z|[+-]00:?00)$//;
        return { type => 'dateTime.iso8601', value => $s };
    }
    die "no typed form for '$ref'";
}

1;
