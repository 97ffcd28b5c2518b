//! Socket set-up shared by the drivers: listeners, outgoing connects and
//! their outcome.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use socket2::{Domain, Protocol, Socket, Type};
use weir_core::ConnError;

/// A non-blocking listening socket with `SO_REUSEADDR`.
pub(crate) fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Starts a non-blocking connect to `addr`.
pub(crate) fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// The outcome of a non-blocking connect after a wake-up: `Err(None)` while
/// it is still in progress.
pub(crate) fn connect_result(stream: &TcpStream) -> Result<(), Option<ConnError>> {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Err(Some(ConnError::from_io(&e))),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(None),
        Err(e) => Err(Some(ConnError::from_io(&e))),
    }
}
