//! A real HTTP proxy for tests: Debian's squid (installed by scripts/setup.sh), started on a free
//! loopback port with a private configuration in a temporary directory (no cache, its own access
//! log, pid file and `hosts_file`). Its `hosts_file` maps [`PROXY_ONLY_HOST`] to 127.0.0.1, a name
//! no resolver of the machine knows: a provider announced under that name is reachable ONLY through
//! the proxy, so a request that arrives proves it went through squid. Optionally squid asks for a
//! user name and password (basic authentication, `basic_ncsa_auth` with an htpasswd file made here),
//! answering 407 without them.
//!
//! [`DesktopProxy`] sets the desktop's proxy settings (GSettings `org.gnome.system.proxy`) for a
//! child process without touching the machine's own: the keyfile backend in a private
//! `XDG_CONFIG_HOME`, and GIO told to use the GNOME resolver (glib-networking), as a GNOME session
//! does.
//!
//! ```no_run
//! use session_keeper_testkit::proxy::{Squid, DesktopProxy, PROXY_ONLY_HOST};
//! let squid = Squid::start();                      // or Squid::with_password("alice", "s3cret")
//! let env = squid.env();                           // https_proxy/http_proxy/no_proxy for a child
//! let desktop = DesktopProxy::manual(&squid);      // or DesktopProxy::manual_with(&squid, Some(("alice", "s3cret")), &["localhost"])
//! let child_env = desktop.env();                   // GSETTINGS_BACKEND, XDG_CONFIG_HOME, GIO_USE_PROXY_RESOLVER
//! assert!(squid.wait_for_log(&format!("CONNECT {PROXY_ONLY_HOST}:"), std::time::Duration::from_secs(10)).is_some());
//! ```

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A name only the test proxy resolves (to 127.0.0.1): give a provider this host (with a certificate
/// for it) and it is reachable through the proxy alone.
pub const PROXY_ONLY_HOST: &str = "idp.proxy-only.test";

/// A running squid; stopped (and its directory removed) when dropped.
pub struct Squid {
    child: Child,
    dir: tempfile::TempDir,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    credentials: Option<(String, String)>,
}

impl Squid {
    /// A squid that carries any request from 127.0.0.1.
    pub fn start() -> Squid {
        Self::spawn(None)
    }

    /// A squid that answers 407 to a request without `user` and `password` (basic authentication).
    pub fn with_password(user: &str, password: &str) -> Squid {
        Self::spawn(Some((user.to_owned(), password.to_owned())))
    }

    fn spawn(credentials: Option<(String, String)>) -> Squid {
        let squid = Path::new("/usr/sbin/squid");
        assert!(squid.exists(), "squid is not installed: run scripts/setup.sh (apt-get install squid)");
        let dir = tempfile::Builder::new().prefix("session-keeper-squid-").tempdir().expect("a temporary directory");
        // Run as root, squid drops to the user `proxy`: it must be able to write its logs here.
        set_mode(dir.path(), 0o777);
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(path("hosts"), format!("127.0.0.1 {PROXY_ONLY_HOST}\n")).unwrap();
        let mut auth = String::new();
        if let Some((user, password)) = &credentials {
            // An Apache MD5 hash, one of the forms basic_ncsa_auth reads.
            let hash = Command::new("openssl").args(["passwd", "-apr1", password]).output().expect("openssl is needed");
            assert!(hash.status.success(), "openssl passwd failed");
            std::fs::write(path("htpasswd"), format!("{user}:{}", String::from_utf8_lossy(&hash.stdout))).unwrap();
            set_mode(&dir.path().join("htpasswd"), 0o644);
            auth = format!(
                "auth_param basic program /usr/lib/squid/basic_ncsa_auth {}\nauth_param basic realm session-keeper-test\n\
                 acl authed proxy_auth REQUIRED\nhttp_access deny !authed\n",
                path("htpasswd")
            );
        }
        let port = free_port();
        let conf = format!(
            "http_port 127.0.0.1:{port}\npid_filename {pid}\ncache deny all\ncache_mem 0 MB\n\
             logformat session_keeper %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt \"%{{User-Agent}}>h\"\n\
             access_log stdio:{log} session_keeper\ncache_log {cache_log}\ncache_store_log none\ncoredump_dir {dir}\n\
             hosts_file {hosts}\nvisible_hostname session-keeper-test-proxy\nshutdown_lifetime 0 seconds\npinger_enable off\n\
             acl from_here src 127.0.0.1/32 ::1\n{auth}http_access allow from_here\nhttp_access deny all\n",
            pid = path("squid.pid"),
            log = path("access.log"),
            cache_log = path("cache.log"),
            dir = dir.path().display(),
            hosts = path("hosts"),
        );
        std::fs::write(path("squid.conf"), conf).unwrap();
        set_mode(&dir.path().join("squid.conf"), 0o644);
        let child = Command::new(squid)
            .args(["-N", "-f", &path("squid.conf")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("squid could not be started");
        let mut squid = Squid { child, dir, port, credentials };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = squid.child.try_wait().unwrap() {
                panic!("squid ended ({status}) before listening: {}", squid.cache_log());
            }
            assert!(Instant::now() < deadline, "squid did not listen on {port} within 20 s: {}", squid.cache_log());
            std::thread::sleep(Duration::from_millis(20));
        }
        squid
    }

    /// The proxy's URL, `http://127.0.0.1:PORT` (without credentials).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The proxy's URL with its user name and password in it, if it asks for them.
    pub fn url_with_credentials(&self) -> String {
        match &self.credentials {
            Some((user, password)) => format!("http://{user}:{password}@127.0.0.1:{}", self.port),
            None => self.url(),
        }
    }

    /// Environment variables that send a child process's HTTP and HTTPS requests through this proxy
    /// (with its credentials, if any), loopback excepted.
    pub fn env(&self) -> Vec<(String, String)> {
        let url = self.url_with_credentials();
        vec![("https_proxy".into(), url.clone()), ("http_proxy".into(), url), ("no_proxy".into(), "localhost,127.0.0.1,::1".into())]
    }

    /// The access log's lines so far, one per request carried (squid's native format: time,
    /// elapsed, client, code/status, bytes, method, URL or CONNECT target, user, hierarchy, type;
    /// then the request's User-Agent in quotes). A CONNECT tunnel is logged when it closes.
    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    /// The requests received, as (method, URL or CONNECT target, status); not the connections that
    /// closed before a request (the readiness probe's).
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.log()
            .iter()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let status = fields.get(3)?.split('/').nth(1)?.parse().ok()?;
                let method = fields.get(5)?.to_string();
                (method != "-").then(|| (method, fields.get(6).unwrap_or(&"").to_string(), status))
            })
            .collect()
    }

    /// Waits, bounded, for a log line containing `needle`; returns it.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.log().into_iter().find(|line| line.contains(needle)) {
                return Some(line);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// squid's own log (start-up and errors), for a failure's message.
    pub fn cache_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cache.log")).unwrap_or_default()
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The desktop's proxy settings for child processes, in a private GSettings keyfile: what GNOME's
/// Settings > Network > Proxy writes, read by GIO's resolver (glib-networking), which WebKitGTK and
/// the core both ask.
pub struct DesktopProxy {
    dir: tempfile::TempDir,
}

impl DesktopProxy {
    /// Mode "manual" with `squid` as the HTTP and HTTPS proxy, loopback ignored.
    pub fn manual(squid: &Squid) -> DesktopProxy {
        Self::manual_with(squid, squid.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())), &["localhost", "127.0.0.0/8", "::1"])
    }

    /// Mode "manual" with `squid` as the HTTP and HTTPS proxy, `credentials` in the desktop's HTTP
    /// proxy settings (authentication-user/password) if given, and `ignore_hosts` sent direct.
    pub fn manual_with(squid: &Squid, credentials: Option<(&str, &str)>, ignore_hosts: &[&str]) -> DesktopProxy {
        Self::manual_at("127.0.0.1", squid.port, credentials, ignore_hosts)
    }

    /// Mode "manual" with `host`:`port` as the HTTP and HTTPS proxy (a proxy that need not run: GIO
    /// answers from the settings alone), `credentials` and `ignore_hosts` as in [`Self::manual_with`].
    pub fn manual_at(host: &str, port: u16, credentials: Option<(&str, &str)>, ignore_hosts: &[&str]) -> DesktopProxy {
        let desktop = Self::empty();
        let port = port.to_string();
        let ignore = format!("[{}]", ignore_hosts.iter().map(|h| format!("'{h}'")).collect::<Vec<_>>().join(", "));
        desktop.set("org.gnome.system.proxy", "ignore-hosts", &ignore);
        for schema in ["org.gnome.system.proxy.http", "org.gnome.system.proxy.https"] {
            desktop.set(schema, "host", host);
            desktop.set(schema, "port", &port);
        }
        if let Some((user, password)) = credentials {
            desktop.set("org.gnome.system.proxy.http", "use-authentication", "true");
            desktop.set("org.gnome.system.proxy.http", "authentication-user", user);
            desktop.set("org.gnome.system.proxy.http", "authentication-password", password);
        }
        desktop.set("org.gnome.system.proxy", "mode", "manual");
        desktop
    }

    /// Mode "auto" with a PAC file at `pac_url` (a `file://` URL works).
    pub fn auto(pac_url: &str) -> DesktopProxy {
        let desktop = Self::empty();
        desktop.set("org.gnome.system.proxy", "autoconfig-url", pac_url);
        desktop.set("org.gnome.system.proxy", "mode", "auto");
        desktop
    }

    /// A private settings store with the schemas' defaults (mode "none").
    pub fn empty() -> DesktopProxy {
        DesktopProxy { dir: tempfile::Builder::new().prefix("session-keeper-desktop-").tempdir().expect("a temporary directory") }
    }

    /// `gsettings set SCHEMA KEY VALUE` in this private store.
    pub fn set(&self, schema: &str, key: &str, value: &str) {
        let out = Command::new("gsettings")
            .args(["set", schema, key, value])
            .envs(self.env())
            .output()
            .expect("gsettings (libglib2.0-bin) is needed");
        assert!(out.status.success(), "gsettings set {schema} {key}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The environment under which a child process reads these settings: the keyfile backend in
    /// this private `XDG_CONFIG_HOME`, GIO's GNOME proxy resolver, and a GNOME session.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("GSETTINGS_BACKEND".into(), "keyfile".into()),
            ("XDG_CONFIG_HOME".into(), self.dir.path().display().to_string()),
            ("GIO_USE_PROXY_RESOLVER".into(), "gnome".into()),
            // The GNOME resolver serves only a GNOME session (it says it is unsupported elsewhere,
            // and GIO then falls back to libproxy or none).
            ("XDG_CURRENT_DESKTOP".into(), "GNOME".into()),
        ]
    }

    /// The environment of a desktop other than GNOME whose settings are these (private, so the
    /// machine's own are never read): GIO then asks libproxy, which reads `https_proxy`, `http_proxy`
    /// and `no_proxy` itself, as the sign-in window's WebKitGTK does there.
    pub fn env_outside_gnome(&self) -> Vec<(String, String)> {
        self.env().into_iter().filter(|(name, _)| name != "GIO_USE_PROXY_RESOLVER" && name != "XDG_CURRENT_DESKTOP").collect()
    }

    /// The keyfile the settings are written to.
    pub fn keyfile(&self) -> PathBuf {
        self.dir.path().join("glib-2.0/settings/keyfile")
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A port free on 127.0.0.1 now (bound and released; squid binds it a moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
