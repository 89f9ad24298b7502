//! Rebuilds the binary when the web app's build output changes (it is embedded by `src/web.rs`).
fn main() {
    println!("cargo:rerun-if-changed=web/dist");
    println!("cargo:rerun-if-changed=build.rs");
}
