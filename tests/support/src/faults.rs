//! A fault-injecting TCP proxy between the client and the real provider. It exists because no real
//! network or proxy can be told to misbehave on cue: the faults a user's connection and a provider's
//! load balancer produce (latency, connection resets, 5xx pages, black holes, a provider restarting)
//! are played here on purpose, at the moment a test chooses, in front of the real oidc-provider.
//!
//! Faults act on each piece of a request the client sends, so pooled keep-alive connections meet them
//! too, not only new ones:
//! - [`Fault::Latency`]: every piece, both ways, waits this long;
//! - [`Fault::Reset`]: the client's connection is reset (RST), the request never reaches the provider;
//! - [`Fault::Status`]: the proxy answers a 502, 503 or 504 page of its own and closes, as a load
//!   balancer does when the provider behind it is unwell;
//! - [`Fault::BlackHole`]: the request is swallowed and nothing ever comes back, until the client
//!   gives up;
//! - a provider that is down (restarting): the upstream connection is refused and the client's is reset.
//!
//! What the proxy does not do is cut a connection after the provider has answered a refresh: the
//! provider has then rotated the refresh token and made the old one invalid, so that answer is lost for
//! any client (RELIABILITY.md, "Faults between the app and the provider").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to requests now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass everything through.
    None,
    /// Delay every piece, both ways.
    Latency(Duration),
    /// Reset the client's connection.
    Reset,
    /// Answer with this 5xx status and close.
    Status(u16),
    /// Swallow the request; never answer.
    BlackHole,
}

/// How many requests met each kind of fault.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub passed: AtomicU64,
    pub delayed: AtomicU64,
    pub reset: AtomicU64,
    pub status: AtomicU64,
    pub black_holed: AtomicU64,
    pub upstream_down: AtomicU64,
}

/// A running proxy on 127.0.0.1; stops when dropped.
pub struct FaultProxy {
    /// The port clients connect to.
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    upstream: Arc<Mutex<u16>>,
    pub counts: Arc<FaultCounts>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free port; forwards to `127.0.0.1:<upstream>` once [`FaultProxy::set_upstream`]
    /// names it (until then, like a provider that is down).
    pub async fn start() -> FaultProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fault = Arc::new(Mutex::new(Fault::None));
        let upstream = Arc::new(Mutex::new(0));
        let counts = Arc::new(FaultCounts::default());
        let (f, u, c) = (fault.clone(), upstream.clone(), counts.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                let _ = client.set_nodelay(true);
                tokio::spawn(relay(client, f.clone(), *u.lock().unwrap(), c.clone()));
            }
        });
        FaultProxy { port, fault, upstream, counts, task }
    }

    /// The provider's port.
    pub fn set_upstream(&self, port: u16) {
        *self.upstream.lock().unwrap() = port;
    }

    /// Changes the fault from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, fault: Arc<Mutex<Fault>>, upstream: u16, counts: Arc<FaultCounts>) {
    let now = || *fault.lock().unwrap();
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        counts.upstream_down.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_zero_linger();
        return;
    };
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // The provider's side is read by a task of its own, so that this one owns the client's connection
    // whole and decides, piece by piece, what happens to it.
    let (answers, mut from_server) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let reader = tokio::spawn(async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(read) = server_read.read(&mut buffer).await {
            if read == 0 || answers.send(buffer[..read].to_vec()).await.is_err() {
                break;
            }
        }
    });
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = client_read.read(&mut buffer) => {
                let read = match read {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                match now() {
                    Fault::None => {
                        counts.passed.fetch_add(1, Ordering::Relaxed);
                    }
                    Fault::Latency(delay) => {
                        counts.delayed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(delay).await;
                    }
                    Fault::Reset => {
                        counts.reset.fetch_add(1, Ordering::Relaxed);
                        reader.abort();
                        // Dropping the halves with a zero linger sends a RST.
                        let _ = client_read.as_ref().set_zero_linger();
                        return;
                    }
                    Fault::Status(status) => {
                        counts.status.fetch_add(1, Ordering::Relaxed);
                        reader.abort();
                        let body = format!("<html><body><h1>{status} Gateway trouble</h1></body></html>");
                        let answer = format!(
                            "HTTP/1.1 {status} Gateway trouble\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = client_write.write_all(answer.as_bytes()).await;
                        let _ = client_write.shutdown().await;
                        return;
                    }
                    Fault::BlackHole => {
                        counts.black_holed.fetch_add(1, Ordering::Relaxed);
                        reader.abort();
                        drop(server_write);
                        // Nothing ever comes back: read and drop what comes until the client gives up.
                        while let Ok(read) = client_read.read(&mut buffer).await {
                            if read == 0 {
                                break;
                            }
                        }
                        return;
                    }
                }
                if server_write.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
            }
            answer = from_server.recv() => {
                let Some(answer) = answer else { break };
                if let Fault::Latency(delay) = now() {
                    tokio::time::sleep(delay).await;
                }
                if client_write.write_all(&answer).await.is_err() {
                    break;
                }
            }
        }
    }
    reader.abort();
}
