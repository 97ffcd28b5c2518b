//! weir inside a program that already runs smol: an echo server, weir in
//! front of it and a client, all tasks of one executor; then the program
//! stops weir with its handle and waits for it to finish.
//!
//! `cargo run -p weir-smol --example embed` (`cargo test` runs it too).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, LocalExecutor, Timer};
use weir_core::config::{self, Source};

fn main() -> io::Result<()> {
    let executor = LocalExecutor::new();
    smol::block_on(executor.run(async {
        // A backend: echoes one connection.
        let backend = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
        let backend_addr = backend.get_ref().local_addr()?;
        executor
            .spawn(async move {
                let (mut stream, _) = backend.accept().await?;
                let mut buf = [0; 64];
                let n = stream.read(&mut buf).await?;
                stream.write_all(&buf[..n]).await?;
                io::Result::Ok(())
            })
            .detach();

        // weir, configured from a string, balancing to that backend.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let text = format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
             backend be\n server echo {backend_addr}\n"
        );
        let source = Source {
            name: "embed.cfg",
            text: text.as_bytes(),
        };
        let parsed = config::parse(&[source], &mut |_| None)
            .map_err(|errors| io::Error::new(io::ErrorKind::InvalidInput, format!("{errors:?}")))?;
        let weir = weir_smol::Weir::bind(parsed.config, weir_smol::Options::default())?;
        let front: SocketAddr = weir.local_addrs()[0];
        let stop = weir.shutdown_handle();
        let running = executor.spawn(weir.run());

        // A client through weir, given 30 s at most.
        let exchange = async {
            let mut client = Async::<TcpStream>::connect(front).await?;
            client.write_all(b"hello through weir").await?;
            let mut reply = vec![0; 18];
            client.read_exact(&mut reply).await?;
            io::Result::Ok(reply)
        };
        let too_long = async {
            Timer::after(Duration::from_secs(30)).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no reply through weir",
            ))
        };
        let reply = exchange.or(too_long).await?;
        println!("client got back: {}", String::from_utf8_lossy(&reply));

        stop.shutdown();
        running.await?;
        println!("weir stopped");
        Ok(())
    }))
}

#[cfg(test)]
#[test]
fn the_example_runs() {
    main().expect("the example runs");
}
