//! The bulk figure from `iperf3` instead of the built-in generator
//! (`--iperf3`): one `iperf3 -s` behind the balancer (its control and data
//! connections must reach the same server), `iperf3 -c -R` in front.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::balancer::free_port;

/// An `iperf3 -s` process, killed by its id when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

/// Makes the kernel stop a child when this process dies.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

impl Server {
    /// Starts a server on a free loopback port and waits until it listens.
    pub fn start(iperf3: &Path) -> Result<Server, String> {
        let port = free_port().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(iperf3);
        cmd.args(["-s", "-B", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| format!("iperf3 -s: {e}"))?;
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // A probe that sends no cookie is dropped by the server, which
        // goes on listening.
        while TcpStream::connect(server.addr).is_err() {
            if Instant::now() > deadline || server.child.try_wait().ok().flatten().is_some() {
                return Err("iperf3 -s did not listen".to_owned());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `iperf3 -c -R` (the server sends, as in the built-in bulk
/// figure), omitting the first `omit` seconds.
pub struct Client {
    child: Child,
    deadline: Instant,
}

impl Client {
    /// Starts the client against `addr`.
    pub fn start(
        iperf3: &Path,
        addr: SocketAddr,
        streams: usize,
        secs: u64,
        omit: u64,
    ) -> Result<Client, String> {
        let mut cmd = Command::new(iperf3);
        cmd.args(["-c", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .args(["-P", &streams.to_string(), "-R", "-J"])
            .args(["-t", &secs.to_string(), "-O", &omit.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| format!("iperf3 -c: {e}"))?;
        Ok(Client {
            child,
            deadline: Instant::now() + Duration::from_secs(secs + omit + 15),
        })
    }

    /// Waits for the client (killing it past its deadline) and reads the
    /// bits per second it received.
    pub fn finish(mut self) -> Result<f64, String> {
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > self.deadline {
                let _ = self.child.kill();
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let out = self
            .child
            .wait_with_output()
            .map_err(|e| format!("iperf3 -c: {e}"))?;
        received_bps(&String::from_utf8_lossy(&out.stdout))
            .ok_or_else(|| "iperf3 -c printed no end.sum_received".to_owned())
    }
}

/// `end.sum_received.bits_per_second` of iperf3's JSON (the only
/// `sum_received`: intervals have `sum`).
fn received_bps(json: &str) -> Option<f64> {
    let sum = &json[json.rfind("\"sum_received\"")?..];
    let key = "\"bits_per_second\":";
    let v = &sum[sum.find(key)? + key.len()..];
    let v = v.trim_start();
    let n = v
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')))
        .unwrap_or(v.len());
    v[..n].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_received_rate() {
        let json = "{\"intervals\": [{\"sum\": {\"end\": 1, \"bits_per_second\": 1}}],
            \"end\":\t{\"sum_sent\": {\"bits_per_second\": 2.5e9},
            \"sum_received\":\t{\"end\":\t0.99, \"bits_per_second\":\t1.25e10, \"x\": 1}}}";
        assert_eq!(received_bps(json), Some(1.25e10));
        assert_eq!(received_bps("{}"), None);
    }
}
