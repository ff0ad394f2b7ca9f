//! Arbitrary bytes into both parsers. Whatever parses must write, and what
//! is written must parse back to the same value: the parser accepts nothing
//! the writer cannot carry.

#![no_main]

use arpwatch_rpc::Limits;
use arpwatch_rpc::xml::{parse_call, parse_response, write_call, write_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(call) = parse_call(data, &limits) {
        let doc = write_call(&call)
            .unwrap_or_else(|e| panic!("parsed {call:?} but cannot write it: {e}"));
        let again = parse_call(&doc, &limits)
            .unwrap_or_else(|e| panic!("cannot re-parse our own call: {e}"));
        assert_eq!(again, call);
    }
    if let Ok(resp) = parse_response(data, &limits) {
        let doc = write_response(&resp)
            .unwrap_or_else(|e| panic!("parsed {resp:?} but cannot write it: {e}"));
        let again = parse_response(&doc, &limits)
            .unwrap_or_else(|e| panic!("cannot re-parse our own response: {e}"));
        assert_eq!(again, resp);
    }
});
