//! weir inside a program's own smol executor: it shares the executor's
//! thread with the program's other tasks, and stops with its handle.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use smol::{LocalExecutor, Timer};
use weir_core::config::{self, Source};
use weir_tests::{PATIENCE, echo_server as echo_backend};

fn weir_for(backend: u16) -> weir_smol::Weir {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let text = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 30s\n timeout server 30s\n\
         frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
         backend be\n server s1 127.0.0.1:{backend}\n"
    );
    let source = Source {
        name: "embed.cfg",
        text: text.as_bytes(),
    };
    let parsed = config::parse(&[source], &mut |_| None).expect("the configuration parses");
    weir_smol::Weir::bind(parsed.config, weir_smol::Options::default()).expect("weir binds")
}

/// Polls `cond` until it holds or [`PATIENCE`] runs out.
fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    cond()
}

#[test]
fn a_busy_weir_leaves_the_executors_other_tasks_their_turns() {
    let weir = weir_for(echo_backend());
    let addr = weir.local_addrs()[0];
    let stop = weir.shutdown_handle();
    // The program's executor, on its own thread: weir and a task of the
    // program's that ticks every millisecond.
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = ticks.clone();
    let program = thread::spawn(move || {
        let executor = LocalExecutor::new();
        let weir = executor.spawn(weir.run());
        executor
            .spawn(async move {
                loop {
                    Timer::after(Duration::from_millis(1)).await;
                    ticker.fetch_add(1, Ordering::Relaxed);
                }
            })
            .detach();
        smol::block_on(executor.run(weir))
    });
    // Clients stream through weir as fast as they can until it stops, so
    // it always has IO left to do at the end of a turn.
    let echoed = Arc::new(AtomicU64::new(0));
    for _ in 0..4 {
        let mut writer = TcpStream::connect(addr).unwrap();
        writer.set_write_timeout(Some(PATIENCE)).unwrap();
        let mut reader = writer.try_clone().unwrap();
        reader.set_read_timeout(Some(PATIENCE)).unwrap();
        thread::spawn(move || {
            let chunk = vec![7u8; 64 * 1024];
            while writer.write_all(&chunk).is_ok() {}
        });
        let echoed = echoed.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                echoed.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
    }
    assert!(wait_until(|| echoed.load(Ordering::Relaxed) >= 16 << 20));
    let (ticks_before, echoed_before) = (
        ticks.load(Ordering::Relaxed),
        echoed.load(Ordering::Relaxed),
    );
    let took_turns = wait_until(|| ticks.load(Ordering::Relaxed) >= ticks_before + 20);
    let moved = echoed.load(Ordering::Relaxed) - echoed_before;
    stop.shutdown();
    program.join().unwrap().expect("weir ran");
    assert!(took_turns, "the ticker starved while weir was busy");
    assert!(moved > 0, "weir kept moving bytes meanwhile");
}
