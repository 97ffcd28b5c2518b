//! The PROXY protocol end to end: an agent's TLS upload crosses two hops of
//! one weir process (`send-proxy-v2` to an `accept-proxy` frontend, then
//! `send-proxy` to the gateway), and the gateway, reading the header as
//! the seed's gateways do, reports the agent's own address. A client that
//! sends garbage instead of a header is closed alone.

use std::io::{Read, Write};
use std::net::SocketAddr;

use weir_tests::gateway::{Attempt, Gateway, Pki, upload_from};

use super::kit::{Running, Scratch, client, free_port, wait_until};

/// Frontend `edge` on `edge` sends to frontend `inner` (on `inner`, with
/// `accept-proxy`) with version 2 headers; `inner` sends to the gateway
/// with version 1 headers, and checks it (the header goes first there too).
fn two_hops(edge: u16, inner: u16, gateway: u16) -> String {
    format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend edge\n bind 127.0.0.1:{edge}\n default_backend hop\n\
         backend hop\n server inner 127.0.0.1:{inner} send-proxy-v2 proxy-v2-options crc32c\n\
         frontend inner\n bind 127.0.0.1:{inner} accept-proxy\n default_backend gateways\n\
         backend gateways\n server gw 127.0.0.1:{gateway} send-proxy check inter 200ms\n"
    )
}

#[test]
fn the_gateway_sees_the_agents_address_through_two_hops() {
    let pki = Pki::new();
    let gateway = Gateway::start("gw1", &pki);
    gateway.expect_proxy(true);
    let scratch = Scratch::new();
    let (edge, inner) = (free_port(), free_port());
    let config = scratch.file("weir.cfg", &two_hops(edge, inner, gateway.port()));
    let _weir = Running::quiet(&config, edge);
    let front = SocketAddr::from(([127, 0, 0, 1], edge));
    let (attempt, agent) = upload_from(front, &pki.client_config(), "payload-1");
    assert_eq!(attempt, Attempt::Delivered("gw1".into()));
    let agent = agent.expect("the agent's address");
    assert!(
        wait_until(|| gateway.agents().contains(&agent)),
        "the gateway saw {:?}, not the agent {agent}",
        gateway.agents()
    );
    assert_eq!(gateway.uploads(), ["payload-1"]);
}

#[test]
fn garbage_instead_of_a_header_closes_only_that_connection() {
    let pki = Pki::new();
    let gateway = Gateway::start("gw1", &pki);
    gateway.expect_proxy(true);
    let scratch = Scratch::new();
    let (edge, inner) = (free_port(), free_port());
    let config = scratch.file("weir.cfg", &two_hops(edge, inner, gateway.port()));
    let _weir = Running::quiet(&config, edge);
    let mut bad = client(inner);
    bad.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    // Closed at once, without a byte: no server was ever asked.
    assert_eq!(bad.read_to_end(&mut rest).map(|_| rest.len()).ok(), Some(0));
    let front = SocketAddr::from(([127, 0, 0, 1], edge));
    let (attempt, _) = upload_from(front, &pki.client_config(), "payload-2");
    assert_eq!(attempt, Attempt::Delivered("gw1".into()));
}
