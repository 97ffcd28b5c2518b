//! weir-core must stay sans-IO: no clocks, files, sockets or threads. Clippy
//! enforces it through `core/clippy.toml`; this test catches it even where
//! clippy is not run, by reading core's sources.

use std::fs;
use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "std::fs",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "thread::spawn",
    "std::env::var",
    "std::process",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("core/src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_has_no_clock_file_socket_or_thread_calls() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 5, "found core's sources in {}", src.display());
    let mut found = Vec::new();
    for file in files {
        // Scenario tests need one real Instant to start their fake clock.
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).expect("source is UTF-8");
        for (i, line) in text.lines().enumerate() {
            for pattern in FORBIDDEN {
                if line.contains(pattern) && !line.trim_start().starts_with("//") {
                    found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "core must stay sans-IO:\n{}",
        found.join("\n")
    );
}
