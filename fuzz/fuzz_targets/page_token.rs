#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| linkage_fuzz::page_token(data));
