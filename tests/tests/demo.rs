//! The demo programs a newcomer runs first (`weir-demo`, `demo`), as
//! processes: their command lines, `demo backends` stopping one server at
//! a time, and `demo pki` making the `seed-*` examples valid. None runs
//! the full drill: that takes 14 s and more.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use weir_core::config::{self, Source};
use weir_tests::{PATIENCE, read_line};

const WEIR_DEMO: &str = env!("CARGO_BIN_EXE_weir-demo");
const DEMO: &str = env!("CARGO_BIN_EXE_demo");

/// A spawned demo, killed by its PID when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program` with `args` and returns its output; kills it and fails
/// the test if it has not exited within `PATIENCE`.
fn run(program: &str, args: &[&str]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} still ran after {PATIENCE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn weir_demo_prints_its_usage_on_help_and_refuses_unknown_arguments() {
    for help in ["--help", "-h"] {
        let out = run(WEIR_DEMO, &[help]);
        assert_eq!(out.status.code(), Some(0), "{help}");
        let stdout = text(&out.stdout);
        assert!(
            stdout.starts_with("Usage: weir-demo [--all-faults] [--smol]"),
            "{stdout}"
        );
        assert!(stdout.contains("--all-faults") && stdout.contains("--smol"));
    }
    for typo in [&["--all-fault"][..], &["--smol", "smol"], &["-x"]] {
        let out = run(WEIR_DEMO, typo);
        assert_eq!(out.status.code(), Some(2), "{typo:?}");
        let stderr = text(&out.stderr);
        let bad = typo.last().unwrap();
        assert!(
            stderr.starts_with(&format!(
                "weir-demo: unknown option '{bad}'\nUsage: weir-demo"
            )),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "the demo must not start");
    }
}

#[test]
fn demo_prints_its_usage_and_refuses_bad_arguments() {
    let out = run(DEMO, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    for command in [
        "demo backends [PORT]",
        "demo client [ADDR] [N]",
        "demo pki DIR",
    ] {
        assert!(stdout.contains(command), "{stdout}");
    }
    for bad in [
        &[][..],
        &["backend"],
        &["backends", "65535"],
        &["client", "localhost"],
        &["client", "127.0.0.1:9091", "six"],
        &["pki"],
    ] {
        let out = run(DEMO, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(text(&out.stderr).starts_with("demo: "), "{bad:?}");
        assert!(
            text(&out.stderr).contains("Usage: demo backends"),
            "{bad:?}"
        );
    }
}

/// `demo backends 0` with its stdin and stdout in the test's hands.
struct Backends {
    _running: Running,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Backends {
    fn start() -> Backends {
        let mut child = Command::new(DEMO)
            .args(["backends", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo backends starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Backends {
            _running: Running(child),
            stdin,
            lines,
        }
    }

    /// The next line it prints.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("demo backends prints a line")
    }

    /// Types `text` and Enter.
    fn type_line(&mut self, text: &str) {
        writeln!(self.stdin, "{text}").unwrap();
        self.stdin.flush().unwrap();
    }
}

/// The name a server at `addr` answers with.
fn answer(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    read_line(&mut stream)
}

#[test]
fn demo_backends_stops_and_restarts_one_server_at_a_time() {
    let mut demo = Backends::start();
    let addrs: Vec<SocketAddr> = (1..=3)
        .map(|i| {
            let line = demo.line();
            let prefix = format!("app{i} listening on ");
            let addr = line
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{line}"));
            addr.parse().unwrap()
        })
        .collect();
    assert_eq!(
        demo.line(),
        "type 1, 2 or 3 and Enter to stop or restart app1, app2 or app3; Ctrl-C stops all"
    );
    for (i, addr) in addrs.iter().enumerate() {
        assert_eq!(answer(*addr).unwrap(), format!("app{}", i + 1));
    }

    demo.type_line("2");
    assert_eq!(demo.line(), "app2 stopped");
    assert!(answer(addrs[1]).is_err(), "app2 still answers");
    assert_eq!(answer(addrs[0]).unwrap(), "app1");
    assert_eq!(answer(addrs[2]).unwrap(), "app3");

    demo.type_line("x");
    assert_eq!(demo.line(), "type 1, 2 or 3 and Enter");

    demo.type_line("2");
    assert_eq!(demo.line(), format!("app2 listening on {} again", addrs[1]));
    assert_eq!(answer(addrs[1]).unwrap(), "app2");
}

/// A directory of its own under the system's temporary directory,
/// removed with everything in it when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("weir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `weir -c` does with `file`'s text once `/etc/weir/` is moved to
/// `etc_weir`: parse, then load the files it names. The errors, if any.
fn check_example(file: &str, etc_weir: &Path) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(file);
    let original = std::fs::read_to_string(&path).unwrap();
    assert!(original.contains("/etc/weir/ca.pem"), "{file} names the CA");
    let text = original.replace("/etc/weir/", &format!("{}/", etc_weir.display()));
    let parsed = config::parse(
        &[Source {
            name: file,
            text: text.as_bytes(),
        }],
        &mut |_| None,
    )
    .map_err(|e| format!("{e:?}"))?;
    let mut config = parsed.config;
    config
        .load_files(&mut |path| std::fs::read(path).map_err(|e| e.to_string()))
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn demo_pki_writes_the_ca_the_seed_examples_name() {
    let scratch = Scratch::new("demo-pki");
    let etc_weir = scratch.0.join("etc/weir");
    let examples = ["seed-httpchk.cfg", "seed-passthrough.cfg"];
    for file in examples {
        assert!(
            check_example(file, &etc_weir).is_err(),
            "{file} without a CA"
        );
    }

    let out = run(DEMO, &["pki", etc_weir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ca = etc_weir.join("ca.pem");
    assert_eq!(
        text(&out.stdout),
        format!("wrote {} (a test CA; its key is not kept)\n", ca.display())
    );
    for file in examples {
        check_example(file, &etc_weir).unwrap_or_else(|e| panic!("{file}: {e}"));
    }

    // A second run leaves the CA alone.
    let pem = std::fs::read(&ca).unwrap();
    let out = run(DEMO, &["pki", etc_weir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("File exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&ca).unwrap(), pem);
}
