#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| isobox_fuzz::plugin_load::plugin_load(data));
