//! Prints what a probe finds in a file: `cargo run -p lectern-transcoder --example probe FILE`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: probe FILE");
        std::process::exit(2);
    };
    let limits = lectern_transcoder::ProbeLimits {
        max_duration: std::time::Duration::from_secs(24 * 3600),
    };
    match lectern_transcoder::probe(std::path::Path::new(&path), &limits) {
        Ok(info) => println!("{info:#?}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
