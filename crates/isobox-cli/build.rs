//! Lets the `isobox` binary (and the criterion benchmarks, whose package uses this script too) find V8's shared library
//! (libnode) where `scripts/setup-v8.sh` unpacked it.
fn main() {
    if let Ok(dir) = std::env::var("DEP_NODE_RPATH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
