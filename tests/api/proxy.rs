//! A TCP proxy a test puts between herald and the real PostgreSQL or
//! RabbitMQ, to make the network fail on cue without stopping a server that
//! other tests share: `sever()` closes every connection and refuses new
//! ones (a server that went away), `blackhole()` keeps connections open but
//! carries no byte (a server that vanished without a reset, or hangs), and
//! `restore()` opens it again (frozen connections are closed then, as a
//! peer that came back would reset them).

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Open,
    Severed,
    Blackholed,
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Open);
        let mode = Arc::new(mode);
        let modes = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let watch = modes.subscribe();
                tokio::spawn(serve(client, upstream, watch));
            }
        });
        Proxy { addr, mode, task }
    }

    /// Starts a proxy to the host and port of `url` and returns it with
    /// `url` pointed at the proxy instead.
    pub async fn for_url(url: &str) -> (Proxy, String) {
        let (scheme, rest) = url.split_once("://").expect("URL has a scheme");
        let (auth, rest) = rest.rsplit_once('@').map_or(("", rest), |(a, r)| (a, r));
        let (host_port, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let upstream: SocketAddr = tokio::net::lookup_host(host_port)
            .await
            .expect("upstream resolves")
            .next()
            .expect("an upstream address");
        let proxy = Proxy::start(upstream).await;
        let at = if auth.is_empty() {
            String::new()
        } else {
            format!("{auth}@")
        };
        let proxied = format!("{scheme}://{at}{}/{path}", proxy.addr);
        (proxy, proxied)
    }

    pub fn sever(&self) {
        self.mode.send_replace(Mode::Severed);
    }

    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackholed);
    }

    pub fn restore(&self) {
        self.mode.send_replace(Mode::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Severed);
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let current = *mode.borrow_and_update();
    match current {
        Mode::Severed => {
            let _ = client.shutdown().await;
            return;
        }
        Mode::Blackholed => {
            // Accepted, then silence until the proxy opens again.
            let _ = mode.wait_for(|m| *m != Mode::Blackholed).await;
            return;
        }
        Mode::Open => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let changed = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => None,
        changed = mode.wait_for(|m| *m != Mode::Open) => changed.ok().map(|m| *m),
    };
    if changed == Some(Mode::Blackholed) {
        // Frozen: both sockets stay open, nothing moves.
        let _ = mode.wait_for(|m| *m != Mode::Blackholed).await;
    }
}

#[tokio::test]
async fn the_proxy_forwards_severs_freezes_and_opens_again() {
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    let echo = TcpListener::bind("127.0.0.1:0").await.expect("echo binds");
    let upstream = echo.local_addr().expect("echo address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = socket.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    let proxy = Proxy::start(upstream).await;
    // Some(bytes echoed), or None when the connection closed or stayed silent.
    let round_trip = |addr| async move {
        let mut socket = TcpStream::connect(addr).await.ok()?;
        socket.write_all(b"ping").await.ok()?;
        let mut buf = [0u8; 4];
        let read = tokio::time::timeout(Duration::from_millis(300), socket.read_exact(&mut buf));
        read.await.ok()?.ok()?;
        Some(buf)
    };
    assert_eq!(round_trip(proxy.addr).await, Some(*b"ping"));
    proxy.sever();
    assert_eq!(round_trip(proxy.addr).await, None, "severed");
    proxy.restore();
    assert_eq!(round_trip(proxy.addr).await, Some(*b"ping"));
    proxy.blackhole();
    assert_eq!(round_trip(proxy.addr).await, None, "frozen");
    proxy.restore();
    assert_eq!(round_trip(proxy.addr).await, Some(*b"ping"));
}
