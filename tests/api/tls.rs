//! TLS to PostgreSQL (`sslmode=verify-full`) and RabbitMQ (`amqps://`),
//! each verified against a CA this test makes, on server instances of the
//! test's own: a PostgreSQL cluster made with `initdb` in a temporary
//! directory and a second RabbitMQ node with its own name, ports and data,
//! both started from the Debian packages `./scripts/test` installs. The
//! shared PostgreSQL and RabbitMQ the other tests use are never touched. A
//! missing server binary fails the test; it is never skipped.

use crate::helpers::*;
use herald::config::Config;
use herald::storage::Store;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A CA, a certificate it signed for `localhost` and 127.0.0.1, and a
/// second CA that signed nothing here.
struct Pki {
    ca: PathBuf,
    wrong_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

fn pki(dir: &Path) -> Pki {
    let ca = new_ca("herald test CA");
    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca).expect("server certificate");
    let pki = Pki {
        ca: dir.join("ca.pem"),
        wrong_ca: dir.join("wrong-ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.wrong_ca, new_ca("another CA").pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` as `user` when this runs as root (PostgreSQL refuses to run
/// as root), else as this user.
fn as_user(user: &str, program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", user, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn wait_for_port(port: u16, what: &str, log: &Path, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within {secs}s; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A server this test started, in a process group of its own: stopped
/// (the group, by its id) when dropped.
struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test's directory, removed when the test ends, pass or fail (after
/// the servers that use it, which are declared after it).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The newest PostgreSQL's server programs (`initdb`, `postgres`).
fn pg_bin(tool: &str) -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect();
    versions.sort();
    let path = versions.last().map(|(_, p)| p.join("bin").join(tool));
    path.filter(|p| p.exists()).unwrap_or_else(|| {
        panic!("PostgreSQL's {tool} is not installed: ./scripts/test installs Debian's postgresql")
    })
}

/// A PostgreSQL cluster of this test's own with ssl = on.
fn private_postgres(pki: &Pki, dir: &Path) -> (Server, u16) {
    let data = dir.join("pg");
    let log = dir.join("pg.log");
    if is_root() {
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status();
        assert!(chown.is_ok_and(|s| s.success()), "chown to postgres");
    }
    std::fs::set_permissions(
        &pki.key,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let initdb = as_user("postgres", &pg_bin("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync"])
        .output()
        .expect("initdb runs");
    assert!(
        initdb.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&initdb.stderr)
    );
    let port = free_port();
    let setting = |name: &str, value: &Path| format!("{name}={}", value.display());
    let child = as_user("postgres", &pg_bin("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .args(["-c", &setting("unix_socket_directories", dir)])
        .args(["-c", "ssl=on", "-c", "fsync=off"])
        .args(["-c", &setting("ssl_cert_file", &pki.cert)])
        .args(["-c", &setting("ssl_key_file", &pki.key)])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .process_group(0)
        .spawn()
        .expect("postgres starts");
    let server = Server { child, dir: data };
    wait_for_port(port, "the private PostgreSQL", &log, 60);
    (server, port)
}

/// A second RabbitMQ node with a TLS listener only.
fn private_rabbitmq(pki: &Pki, dir: &Path) -> (Server, u16) {
    let program = Path::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
    assert!(
        program.exists(),
        "RabbitMQ is not installed: ./scripts/test installs Debian's rabbitmq-server"
    );
    let node = dir.join("rabbit");
    std::fs::create_dir_all(node.join("home")).unwrap();
    let tls_port = free_port();
    let conf = node.join("rabbitmq.conf");
    std::fs::write(
        &conf,
        format!(
            "listeners.tcp = none\nlisteners.ssl.default = {tls_port}\n\
             ssl_options.cacertfile = {}\nssl_options.certfile = {}\nssl_options.keyfile = {}\n\
             ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n\
             loopback_users = none\n",
            pki.ca.display(),
            pki.cert.display(),
            pki.key.display()
        ),
    )
    .unwrap();
    std::fs::write(node.join("plugins"), "[].\n").unwrap();
    let log = node.join("out.log");
    let name = format!(
        "herald-tls-{}@localhost",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    let child = Command::new(program)
        .env("HOME", node.join("home"))
        .env("RABBITMQ_NODENAME", &name)
        .env("RABBITMQ_NODE_PORT", free_port().to_string())
        .env("RABBITMQ_DIST_PORT", free_port().to_string())
        .env("RABBITMQ_CONFIG_FILE", &conf)
        .env("RABBITMQ_CONF_ENV_FILE", node.join("no-env.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", node.join("plugins"))
        .env("RABBITMQ_MNESIA_BASE", node.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", node.join("log"))
        .env("RABBITMQ_PID_FILE", node.join("pid"))
        .current_dir(&node)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("rabbitmq-server starts");
    let server = Server { child, dir: node };
    wait_for_port(tls_port, "the private RabbitMQ node", &log, 120);
    (server, tls_port)
}

#[tokio::test]
async fn postgresql_and_rabbitmq_over_tls_with_the_configured_ca_and_not_another() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("herald-tls-{}", Uuid::new_v4().simple())));
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let pki = pki(&dir);
    let (rabbit, mq_port) = private_rabbitmq(&pki, &dir);
    let (postgres, pg_port) = private_postgres(&pki, &dir);
    let sim = herald::tools::simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        herald::tools::simulator::SimConfig::default(),
    )
    .await
    .expect("simulator");
    let config_text = |ca: &Path| {
        format!(
            r#"
[database]
url = "postgres://postgres@localhost:{pg_port}/postgres"
ca_file = "{ca}"
max_connections = 4

[amqp]
url = "amqps://guest:guest@localhost:{mq_port}/%2f"
ca_file = "{ca}"
queue_type = "classic"

[http]
listen = "127.0.0.1:0"

[[connection]]
name = "{CONNECTION}"
adapter = "konnek"
base_url = "{sim}"
channel = "whatsapp"
client_id = "client-1"
username = "sim-user"
password = "sim-pass"
"#,
            ca = ca.display(),
            sim = sim.base_url(),
        )
    };
    let config = Config::parse(&config_text(&pki.ca), &|_| None).expect("config");

    // PostgreSQL: verify-full against the CA, and the session is encrypted.
    let store = Store::connect(&config.database)
        .await
        .expect("PostgreSQL over TLS");
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(ssl, "the session is TLS");
    // RabbitMQ over amqps, then herald's whole path over both.
    herald::cli::setup(&config).await.expect("setup over TLS");
    let mut worker_config = config.clone();
    worker_config.worker.shutdown_grace = Duration::from_secs(2);
    let stop = tokio_util::sync::CancellationToken::new();
    let running = herald::startup::start(worker_config, stop.clone())
        .await
        .expect("a worker over TLS");
    let amqp = herald::queue::connect_to(&config.amqp)
        .await
        .expect("amqps with the CA");
    let publisher = herald::queue::Publisher::open(&amqp, &config.amqp)
        .await
        .unwrap();
    let id = Uuid::new_v4();
    let command = json!({"type": "send", "id": id, "connection": CONNECTION,
        "message": {"to": "6281", "text": "over TLS"}});
    publisher
        .publish(command.to_string().as_bytes())
        .await
        .unwrap();
    eventually(60, "the delivery over TLS", || async {
        store
            .delivery(id)
            .await
            .ok()
            .flatten()
            .filter(|d| d.status == "success")
    })
    .await;
    stop.cancel();
    let _ = running.handle.await;
    herald::queue::close(&amqp, "done").await;

    // Another CA: both refused, and the error says what to check.
    let wrong = Config::parse(&config_text(&pki.wrong_ca), &|_| None).unwrap();
    let err = Store::connect(&wrong.database)
        .await
        .expect_err("a CA that signed nothing here");
    let message = herald::error_chain(&err);
    assert!(message.contains("database.ca_file"), "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    let err = herald::queue::connect_to(&wrong.amqp)
        .await
        .expect_err("a CA that signed nothing here");
    let message = herald::error_chain(&err);
    assert!(message.contains("amqp.ca_file"), "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    // Without a CA of its own, the system's roots do not trust it either.
    let err = herald::queue::connect(&config.amqp.url)
        .await
        .expect_err("system roots only");
    assert!(herald::error_chain(&err).contains("amqp.ca_file"));
    // A CA file that is not there is named.
    let mut missing = config.database.clone();
    missing.ca_file = Some(dir.join("nowhere.pem"));
    let err = Store::connect(&missing).await.expect_err("no such file");
    assert!(
        err.to_string().contains("cannot read database.ca_file"),
        "{err}"
    );

    store.pool.close().await;
    drop(postgres);
    drop(rabbit);
    sim.shutdown();
}

/// A URL that names no `sslmode`, without a CA file, stays plain text as
/// before herald spoke TLS (the shared PostgreSQL has `ssl = on`, so
/// sqlx's default `prefer` would encrypt); one that asks for it gets it.
#[tokio::test]
async fn postgresql_is_plain_unless_tls_is_asked_for() {
    let ssl_of = |url: String| async move {
        let config = Config::parse("", &|name| {
            (name == "HERALD_DATABASE_URL").then(|| url.clone())
        })
        .expect("config");
        let store = Store::connect(&config.database).await.expect("store");
        let ssl: Option<bool> =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&store.pool)
                .await
                .expect("pg_stat_ssl");
        store.pool.close().await;
        ssl
    };
    let url = admin_url();
    let with = |mode: &str| match url.contains('?') {
        true => format!("{url}&sslmode={mode}"),
        false => format!("{url}?sslmode={mode}"),
    };
    assert_eq!(ssl_of(url.clone()).await, Some(false));
    if ssl_of(with("prefer")).await == Some(true) {
        let required = ssl_of(with("require")).await;
        assert_eq!(required, Some(true));
    }
}
