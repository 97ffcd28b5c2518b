//! What the Debian package ships from the source tree: the man page,
//! `contrib/man/weir.1`, is what `contrib/man/make-man.sh` makes from this
//! build's `weir -h` (a change to the help text that is not carried to the
//! page fails here), and the default configuration passes `weir -c`.

use std::path::Path;
use std::process::Command;

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

#[test]
fn committed_man_page_is_generated_from_the_current_help() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("sh")
        .arg(root.join("contrib/man/make-man.sh"))
        .arg(WEIR)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "make-man.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).expect("roff is UTF-8");
    let committed = std::fs::read_to_string(root.join("contrib/man/weir.1"))
        .expect("contrib/man/weir.1 is committed");
    assert!(
        generated == committed,
        "contrib/man/weir.1 is stale; regenerate it:\n  \
         contrib/man/make-man.sh target/debug/weir > contrib/man/weir.1\n\
         --- generated ---\n{generated}"
    );
}

#[test]
fn man_page_has_every_option_of_the_help() {
    let help = Command::new(WEIR).arg("-h").output().expect("weir runs");
    let help = String::from_utf8_lossy(&help.stdout);
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/man/weir.1"),
    )
    .expect("contrib/man/weir.1 is committed");
    let options: Vec<&str> = help
        .lines()
        .filter_map(|line| line.strip_prefix("  -"))
        .map(|rest| rest.split("  ").next().unwrap_or(rest))
        .collect();
    assert!(options.len() > 10, "help options: {options:?}");
    for option in options {
        let roff = format!(".B \\-{}", option.replace('-', "\\-"));
        assert!(page.contains(&roff), "{roff} missing from weir.1");
    }
    for section in ["SYNOPSIS", "OPTIONS", "SIGNALS", "FILES", "SEE ALSO"] {
        assert!(page.contains(&format!(".SH {section}")), "no {section}");
    }
}

#[test]
fn default_configuration_of_the_package_is_valid() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/debian/weir.cfg");
    let out = Command::new(WEIR)
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("weir runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("WARNING"), "warnings: {stderr}");
}
