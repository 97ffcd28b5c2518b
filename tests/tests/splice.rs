//! End-to-end: bytes through weir over loopback, both ways, with
//! half-close, resets and timeouts.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;

use weir_tests::{Backend, Behavior, Fnv, Lb, pattern, read_line, wait_until};

fn config(servers: &[&Backend], extra: &str) -> String {
    let mut text = format!(
        "global\n  log stdout format raw local0\n\
         defaults\n  mode tcp\n  log global\n  option tcplog\n\
         timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n{extra}\n\
         frontend fe\n  bind 127.0.0.1:9091\n  default_backend app\n\
         backend app\n"
    );
    for s in servers {
        text.push_str(&format!("  server {} 127.0.0.1:{}\n", s.name, s.port()));
    }
    text
}

fn large_transfers_pass_both_ways_intact() {
    let echo = Backend::start("s1", Behavior::Echo);
    let lb = Lb::start(&config(&[&echo], ""));
    let data = pattern(1, 24 << 20);
    let mut expected = Fnv::default();
    expected.write(&data);
    let mut client = lb.connect();
    let mut reader = client.try_clone().unwrap();
    let len = data.len();
    let receiver = thread::spawn(move || {
        let (mut got, mut hash) = (0, Fnv::default());
        let mut buf = vec![0; 64 * 1024];
        while got < len {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0, "closed after {got} bytes");
            hash.write(&buf[..n]);
            got += n;
        }
        hash.finish()
    });
    client.write_all(&data).unwrap();
    assert_eq!(receiver.join().unwrap(), expected.finish());
}

fn client_half_close_still_gets_the_reply() {
    let digest = Backend::start("s1", Behavior::Digest);
    let lb = Lb::start(&config(&[&digest], ""));
    let data = pattern(2, 3 << 20);
    let mut hash = Fnv::default();
    hash.write(&data);
    let mut client = lb.connect();
    client.write_all(&data).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let reply = read_line(&mut client).unwrap();
    assert_eq!(reply, format!("{} {:016x}", data.len(), hash.finish()));
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "then the server's FIN");
    assert!(lb.wait_log(" fe app/s1 "));
}

/// Bytes and a FIN that arrive together, from either side, are read
/// whole: a short read does not hide the FIN (the timeouts are 30 s, the
/// client waits 10 s at most).
fn bytes_and_fin_at_once_get_the_reply_and_fin_promptly() {
    let digest = Backend::start("s1", Behavior::Digest);
    let lb = Lb::start(&config(&[&digest], ""));
    for i in 0..20 {
        let data = pattern(i, 64);
        let mut hash = Fnv::default();
        hash.write(&data);
        let mut client = lb.connect();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        client.write_all(&data).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let reply = read_line(&mut client).expect("the reply before any timeout");
        assert_eq!(reply, format!("64 {:016x}", hash.finish()));
        let mut rest = Vec::new();
        client
            .read_to_end(&mut rest)
            .expect("the FIN before any timeout");
        assert!(rest.is_empty());
    }
}

fn server_closing_first_delivers_its_bytes_then_eof() {
    let greet = Backend::start("s1", Behavior::Greet);
    let lb = Lb::start(&config(&[&greet], ""));
    let mut client = lb.connect();
    let mut all = String::new();
    client.read_to_string(&mut all).unwrap();
    assert_eq!(all, "s1\n");
}

fn refused_server_connection_closes_the_client() {
    let (_refusing, port) = Backend::refusing_port();
    let text = format!(
        "global\n  log stdout format raw local0\n\
         defaults\n  mode tcp\n  log global\n  option tcplog\n\
         timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
         frontend fe\n  bind 127.0.0.1:9091\n  default_backend app\n\
         backend app\n  server dead 127.0.0.1:{port}\n"
    );
    let lb = Lb::start(&text);
    let mut client = lb.connect();
    let mut buf = [0; 16];
    let n = client.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without data");
    assert!(lb.wait_log(" fe app/dead 0/-1/"));
    assert!(lb.logs().iter().any(|l| l.contains(" SC ")));
}

fn idle_client_is_closed_by_timeout_client() {
    let echo = Backend::start("s1", Behavior::Echo);
    let text = config(&[&echo], "").replace("timeout client 30s", "timeout client 300ms");
    let lb = Lb::start(&text);
    let mut client = lb.connect();
    client.write_all(b"ping").unwrap();
    let mut buf = [0; 4];
    client.read_exact(&mut buf).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(lb.wait_log(" cD "), "{:?}", lb.logs());
}

fn silent_server_is_closed_by_timeout_server() {
    let echo = Backend::start("s1", Behavior::Echo);
    let text = config(&[&echo], "").replace("timeout server 30s", "timeout server 300ms");
    let lb = Lb::start(&text);
    let mut client = lb.connect();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(lb.wait_log(" sD "), "{:?}", lb.logs());
}

fn many_concurrent_sessions_each_get_their_own_bytes() {
    let echo = Backend::start("s1", Behavior::Echo);
    let lb = Lb::start(&config(&[&echo], ""));
    let clients: Vec<_> = (0..100u64)
        .map(|i| {
            let mut stream = lb.connect();
            thread::spawn(move || {
                let data = pattern(i, 64 * 1024 + i as usize);
                let mut writer = stream.try_clone().unwrap();
                let sent = data.clone();
                let w = thread::spawn(move || writer.write_all(&sent).unwrap());
                let mut got = vec![0; data.len()];
                stream.read_exact(&mut got).unwrap();
                w.join().unwrap();
                got == data
            })
        })
        .collect();
    for c in clients {
        assert!(c.join().unwrap());
    }
    assert!(wait_until(|| true));
}

weir_tests::on_both_drivers!(
    large_transfers_pass_both_ways_intact,
    client_half_close_still_gets_the_reply,
    bytes_and_fin_at_once_get_the_reply_and_fin_promptly,
    server_closing_first_delivers_its_bytes_then_eof,
    refused_server_connection_closes_the_client,
    idle_client_is_closed_by_timeout_client,
    silent_server_is_closed_by_timeout_server,
    many_concurrent_sessions_each_get_their_own_bytes,
);
