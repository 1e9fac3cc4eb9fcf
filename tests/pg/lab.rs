//! A private PostgreSQL server for tests: Debian's `postgresql` binaries, a fresh cluster in a
//! temp dir, listening on 127.0.0.1 at a free port and on a socket in that dir (never the
//! package's `main` cluster or port 5432), stopped and removed when dropped. Include it from
//! any crate's tests:
//!
//! ```ignore
//! #[path = "../../../tests/pg/lab.rs"]
//! mod pg_lab;
//! let lab = pg_lab::PgLab::start();
//! let url = lab.create_database("scenario_1");
//! ```
//!
//! PostgreSQL refuses to run as root; as root (CI) every server command runs as the
//! `postgres` user through `runuser`, in a data directory it owns under a 0755 parent.
//! Only std and tempfile are used, so any crate can include it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The lab a test process shares (see [`PgLab::shared`]).
static SHARED: OnceLock<PgLab> = OnceLock::new();

extern "C" {
    // The C library's: runs `f` when the process exits (the test harness ends with `exit`).
    fn atexit(f: extern "C" fn()) -> i32;
}

extern "C" fn stop_shared() {
    if let Some(lab) = SHARED.get() {
        lab.stop();
        let _ = std::fs::remove_dir_all(lab.dir.path());
    }
}

/// Where Debian installs the server (not on PATH): the newest version present.
fn server_bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .unwrap_or_else(|| {
            panic!(
                "no PostgreSQL under {}: run `make test` (it installs Debian's postgresql)",
                root.display()
            )
        });
    root.join(newest.to_string()).join("bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn id_of_postgres(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no `postgres` user: is Debian's postgresql installed?"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

pub struct PgLab {
    pub port: u16,
    /// The server's socket directory (`host=` in a connection string).
    pub socket_dir: PathBuf,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    /// fsync on: commits wait for the disk, as on a real server (the benchmark's).
    durable: bool,
    // Last: removed after the server has stopped.
    dir: tempfile::TempDir,
}

impl PgLab {
    /// A new cluster, started. Panics with the server's log when it cannot start.
    pub fn start() -> PgLab {
        let dir = tempfile::Builder::new()
            .prefix("waymark-pg-")
            .tempdir()
            .expect("a temp dir");
        PgLab::start_at(dir, false)
    }

    /// A cluster in `parent` whose commits wait for the disk (fsync on), as a real server's
    /// do: for measuring, not for tests.
    pub fn start_durable_in(parent: &Path) -> PgLab {
        let dir = tempfile::Builder::new()
            .prefix("waymark-pg-")
            .tempdir_in(parent)
            .expect("a temp dir");
        PgLab::start_at(dir, true)
    }

    fn start_at(dir: tempfile::TempDir, durable: bool) -> PgLab {
        let bin = server_bin_dir();
        let as_postgres = is_root();
        let data = dir.path().join("data");
        let socket_dir = dir.path().join("sock");
        for d in [&data, &socket_dir] {
            std::fs::create_dir(d).expect("create the lab's dirs");
        }
        if as_postgres {
            use std::os::unix::fs::PermissionsExt as _;
            // The server's user must reach its data directory through the temp dir.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("open the lab's dir to the postgres user");
            let (uid, gid) = (id_of_postgres("-u"), id_of_postgres("-g"));
            for d in [&data, &socket_dir] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let mut lab = PgLab {
            port: 0,
            socket_dir,
            bin,
            data,
            as_postgres,
            durable,
            dir,
        };
        let data = lab.data.display().to_string();
        lab.run_ok(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        // A port taken between choosing and binding fails the start: choose again.
        for _ in 0..5 {
            lab.port = free_port();
            if lab.pg_ctl_start().status.success() {
                return lab;
            }
        }
        panic!("PostgreSQL did not start; its log:\n{}", lab.log());
    }

    /// One lab for the whole test process: started by the first test that asks, stopped and
    /// removed when the process exits. Each test takes a database of its own
    /// ([`PgLab::fresh_database`]).
    pub fn shared() -> &'static PgLab {
        SHARED.get_or_init(|| {
            let lab = PgLab::start();
            // SAFETY: registering a plain function with no captured state.
            unsafe {
                atexit(stop_shared);
            }
            lab
        })
    }

    /// A new, empty database with a name no other test of this process uses; its URL.
    pub fn fresh_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.create_database(&name)
    }

    /// Stops the server at once (`-m immediate`).
    pub fn stop(&self) {
        let data = self.data.display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME` (trust authentication: a lab, not a server).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// Runs one SQL command with psql and returns what it printed (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        self.try_psql(database, sql)
            .unwrap_or_else(|e| panic!("psql {sql:?} failed: {e}"))
    }

    /// [`PgLab::psql`] that returns the server's complaint instead of panicking on it.
    pub fn try_psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let socket = self.socket_dir.display().to_string();
        let port = self.port.to_string();
        let out = self.run(
            "psql",
            &[
                "-h",
                &socket,
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                database,
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        );
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The database a URL of this lab names.
    pub fn database_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap_or(url)
    }

    /// A login role that must give `password` over TCP (SCRAM), with a database of its own
    /// named like it: the lab trusts everyone else.
    pub fn require_password(&self, user: &str, password: &str) {
        self.psql(
            "postgres",
            &format!("CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'"),
        );
        self.psql(
            "postgres",
            &format!("CREATE DATABASE \"{user}\" OWNER \"{user}\""),
        );
        let hba = self.data.join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        // The first matching line decides: this one before the trust lines.
        let rule = format!("host all \"{user}\" 127.0.0.1/32 scram-sha-256\n");
        std::fs::write(&hba, format!("{rule}{rules}")).expect("write pg_hba.conf");
        self.psql("postgres", "SELECT pg_reload_conf()");
    }

    /// Serves TLS with `cert_pem` (the chain, leaf first) and `key_pem`, and refuses
    /// connections over TCP without it; restarts the server to apply it.
    pub fn require_tls(&self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        for (name, text) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = self.data.join(name);
            std::fs::write(&path, text).expect("write the server's certificate");
            // The server refuses a key that others may read.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod the key");
            if self.as_postgres {
                let (uid, gid) = (id_of_postgres("-u"), id_of_postgres("-g"));
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        self.psql("postgres", "ALTER SYSTEM SET ssl = on");
        let hba = self.data.join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        let rule = "hostnossl all all 127.0.0.1/32 reject\n";
        std::fs::write(&hba, format!("{rule}{rules}")).expect("write pg_hba.conf");
        self.restart();
    }

    /// `pg_ctl restart`: every connection is cut, the server comes back on the same port.
    pub fn restart(&self) {
        let data = self.data.display().to_string();
        let out = self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", self.log());
        assert!(
            self.pg_ctl_start().status.success(),
            "PostgreSQL did not restart; its log:\n{}",
            self.log()
        );
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }

    fn pg_ctl_start(&self) -> Output {
        let data = self.data.display().to_string();
        let log = self.data.join("server.log").display().to_string();
        // fsync off: a lab's data need not survive a power loss, and tests run faster.
        let fsync = if self.durable { "on" } else { "off" };
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync={fsync} -c max_connections=200",
            self.port,
            self.socket_dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
            ],
        )
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        // The server's user may not be able to enter the test's working directory.
        cmd.args(args).current_dir(self.dir.path());
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    fn run_ok(&self, program: &str, args: &[&str]) -> Output {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for PgLab {
    fn drop(&mut self) {
        self.stop();
    }
}
