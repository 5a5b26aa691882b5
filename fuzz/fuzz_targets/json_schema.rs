#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| isobox_fuzz::json_schema::json_schema(data));
