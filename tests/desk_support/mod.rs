//! Test set-up of the desk suites: a real PostgreSQL server (Debian `postgresql`: initdb +
//! pg_ctl into a temporary directory, as the `postgres` user when run as root, on a free
//! loopback port), stopped when dropped. Absent binaries skip with a message, and fail
//! under `CI=true`. [`world`] is the capture and records database the suites share.

#![allow(dead_code)]

pub mod world;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The demo carrier's subscribers of `calltrace/directory.toml` (Alex Rivera, Jordan Lee,
/// Sam Patel, Casey Nguyen), as the records key them.
pub const A: &str = "13035550142";
pub const B: &str = "13035550177";
pub const C: &str = "13035550188";
pub const D: &str = "13035550199";

pub struct Pg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
    next_db: std::cell::Cell<u32>,
}

fn find_bin() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.into_iter().find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Pg {
    /// Starts a server, or None (with a message) when PostgreSQL is not installed.
    pub fn start() -> Option<Pg> {
        let Some(bin) = find_bin() else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("PostgreSQL (initdb, pg_ctl) is not installed; CI must install the `postgresql` package");
            }
            eprintln!("SKIPPED: PostgreSQL binaries (initdb, pg_ctl) not found; install the Debian package `postgresql`");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("tapline-pg").tempdir().expect("temp dir");
        let as_postgres = is_root();
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir_all(&sock).unwrap();
        if as_postgres {
            // initdb refuses root: the server runs as the package's `postgres` user.
            assert!(Command::new("chmod").arg("755").arg(dir.path()).status().unwrap().success());
            assert!(Command::new("chown").arg("postgres:").arg(dir.path()).arg(&sock).status().unwrap().success());
        }
        let pg = Pg { _dir: dir, data, bin, port: free_port(), as_postgres, next_db: 0.into() };
        let status = pg
            .cmd("initdb")
            .args(["-A", "trust", "-U", "tapline", "--no-sync", "-E", "UTF8", "-D"])
            .arg(&pg.data)
            .output()
            .expect("initdb");
        assert!(status.status.success(), "initdb failed: {}", String::from_utf8_lossy(&status.stderr));
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", pg.port, sock.display());
        let log = pg.data.parent().unwrap().join("server.log");
        let out = pg.cmd("pg_ctl").arg("-D").arg(&pg.data).args(["-o", &opts, "-w", "-t", "60", "-l"]).arg(&log).arg("start").output().expect("pg_ctl");
        assert!(out.status.success(), "pg_ctl start failed: {} {}", String::from_utf8_lossy(&out.stderr), std::fs::read_to_string(&log).unwrap_or_default());
        Some(pg)
    }

    fn cmd(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// A new empty database; its URL.
    pub fn new_db(&self) -> String {
        let n = self.next_db.get() + 1;
        self.next_db.set(n);
        let name = format!("t{n}");
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect to the test server");
        c.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        self.url(&name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://tapline@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.cmd("pg_ctl").arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]).output();
    }
}

/// A SQLite database file in `dir`.
pub fn sqlite_in(dir: &Path) -> String {
    dir.join("records").join("records.sqlite").display().to_string()
}
