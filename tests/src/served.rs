//! A TCP listener served by a thread, that can be killed like a crashed
//! process and restarted on the same port.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::{PATIENCE, wait_until};

/// What a server does with each accepted connection, on its own thread.
pub(crate) type Handler = Arc<dyn Fn(TcpStream) + Send + Sync>;

/// A listener and its accept thread.
pub(crate) struct Served {
    pub addr: SocketAddr,
    handler: Handler,
    stop: Arc<AtomicBool>,
    /// Not accepting, listener kept open.
    paused: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl Served {
    /// Serves `listener`, handing every connection to `handler`.
    pub(crate) fn start(listener: TcpListener, handler: Handler) -> Served {
        let mut served = Served {
            addr: listener.local_addr().unwrap(),
            handler,
            stop: Arc::new(AtomicBool::new(false)),
            paused: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
            thread: None,
        };
        served.serve(listener);
        served
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        self.stop.store(false, Ordering::SeqCst);
        let (stop, conns, handler) = (self.stop.clone(), self.conns.clone(), self.handler.clone());
        let paused = self.paused.clone();
        self.thread = Some(thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if paused.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(2));
                    continue;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream.set_read_timeout(Some(PATIENCE)).unwrap();
                        if let Ok(clone) = stream.try_clone() {
                            conns.lock().unwrap().push(clone);
                        }
                        let handler = handler.clone();
                        thread::spawn(move || handler(stream));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        }));
    }

    /// Closes the listener and every connection.
    pub(crate) fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }

    /// Stops (`true`) or resumes accepting, keeping the listener open.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Listens again on the same port.
    pub(crate) fn restart(&mut self) {
        let mut listener = None;
        assert!(wait_until(|| {
            listener = TcpListener::bind(self.addr).ok();
            listener.is_some()
        }));
        self.serve(listener.unwrap());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}
