//! A TCP proxy the soak puts between its workers and PostgreSQL or
//! RabbitMQ, to take a service away and bring it back without stopping a
//! server others share: [`Proxy::cut`] closes every connection and refuses
//! new ones (a server that went away), [`Proxy::restore`] opens it again.
//!
//! The integration tests carry their own copy (`tests/api/proxy.rs`, which
//! can also freeze connections); the library cannot be imported by the
//! tests' binary without making this a public API of herald's.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    /// `true` while cut.
    cut: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("the proxy cannot bind")?;
        let addr = listener.local_addr()?;
        let (cut, _) = watch::channel(false);
        let cut = Arc::new(cut);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, cuts.subscribe()));
            }
        });
        Ok(Proxy { addr, cut, task })
    }

    /// Starts a proxy to the host and port of `url` and returns it with
    /// `url` pointed at the proxy instead.
    pub async fn for_url(url: &str) -> anyhow::Result<(Proxy, String)> {
        let (scheme, rest) = url.split_once("://").context("the URL has no scheme")?;
        let (auth, rest) = rest.rsplit_once('@').map_or(("", rest), |(a, r)| (a, r));
        let (host_port, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let upstream = tokio::net::lookup_host(host_port)
            .await
            .with_context(|| format!("cannot resolve {host_port}"))?
            .next()
            .with_context(|| format!("{host_port} has no address"))?;
        let proxy = Proxy::start(upstream).await?;
        let at = if auth.is_empty() {
            String::new()
        } else {
            format!("{auth}@")
        };
        let proxied = format!("{scheme}://{at}{}/{path}", proxy.addr);
        Ok((proxy, proxied))
    }

    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut.send_replace(true);
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut cut: watch::Receiver<bool>) {
    if *cut.borrow_and_update() {
        let _ = client.shutdown().await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Either side closing ends the pair; a cut drops both sockets, which
    // closes them.
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn the_proxy_forwards_cuts_and_opens_again() -> anyhow::Result<()> {
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let upstream = echo.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        let proxy = Proxy::start(upstream).await?;
        // Some(bytes echoed), or None when the connection closed or stayed silent.
        let round_trip = |addr| async move {
            let mut socket = TcpStream::connect(addr).await.ok()?;
            socket.write_all(b"ping").await.ok()?;
            let mut buf = [0u8; 4];
            let read =
                tokio::time::timeout(Duration::from_millis(300), socket.read_exact(&mut buf));
            read.await.ok()?.ok()?;
            Some(buf)
        };
        let mut open = TcpStream::connect(proxy.addr).await?;
        assert_eq!(round_trip(proxy.addr).await, Some(*b"ping"));
        proxy.cut();
        assert_eq!(round_trip(proxy.addr).await, None, "cut");
        // A connection opened before the cut was closed by it.
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(1), open.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
        proxy.restore();
        assert_eq!(round_trip(proxy.addr).await, Some(*b"ping"));
        Ok(())
    }
}
