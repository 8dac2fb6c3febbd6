#![no_main]
//! See fuzz/harness/crypto.rs.

#[path = "../harness/crypto.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::jws_verify(data));
