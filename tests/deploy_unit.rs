//! What the Debian package installs, checked from the files it is built from: the systemd
//! unit's reload, hardening and writable paths; `/etc/default/tapline` offering the metrics
//! and API options under their current names; deploy/README.md agreeing with hot reload;
//! the package metadata and `.ci/deb.sh` covering binary (with `live`), user, directories,
//! unit, dashboard, man pages and completions. (`.ci/deb.sh` builds and installs the
//! package itself in CI.)

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `Key=value` lines of a unit or environment file (continuation lines joined).
fn settings(text: &str) -> Vec<(String, String)> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn value<'a>(s: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    s.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

#[test]
fn the_unit_reloads_on_hup_is_hardened_and_can_write_the_warrants() {
    let unit = settings(&read("deploy/tapline.service"));
    assert_eq!(value(&unit, "ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(value(&unit, "SystemCallFilter"), ["@system-service"]);
    assert_eq!(value(&unit, "ProtectProc"), ["invisible"]);
    assert_eq!(value(&unit, "PrivateMounts"), ["yes"]);
    assert_eq!(value(&unit, "ProtectSystem"), ["strict"]);
    let writable: Vec<&str> = value(&unit, "ReadWritePaths").iter().flat_map(|v| v.split_whitespace()).collect();
    // The API writes warrant files: the warrant directory must be writable under ProtectSystem.
    assert!(writable.contains(&"/var/lib/tapline/warrants") && writable.contains(&"/var/lib/tapline/spool"), "{writable:?}");
    assert!(value(&unit, "EnvironmentFile").iter().any(|v| v.ends_with("/etc/default/tapline")));
    let exec = value(&unit, "ExecStart").join(" ");
    assert!(exec.contains("$TAPLINE_OPTS"), "the default file's options reach the command: {exec}");
}

#[test]
fn every_flag_of_the_unit_and_the_default_file_is_accepted_by_tapline_run() {
    let help = Command::new(env!("CARGO_BIN_EXE_tapline")).args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let default = read("deploy/tapline.default");
    for opts in ["--metrics-listen", "--api-listen", "--api-cert", "--api-key", "--api-client-ca"] {
        assert!(default.contains(opts), "/etc/default/tapline offers {opts}");
    }
    let defaults = settings(&default);
    assert!(value(&defaults, "TAPLINE_OPTS").iter().any(|v| v.contains("--metrics-listen")), "metrics on by default");
    let unit = read("deploy/tapline.service");
    for text in [&unit, &default] {
        for word in text.split_whitespace().filter(|w| w.starts_with("--")) {
            let flag = word.trim_matches(|c: char| c == '"' || c == '\'');
            assert!(help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")), "{flag} is not a `tapline run` flag");
        }
    }
}

#[test]
fn deploy_readme_agrees_with_hot_reload() {
    let readme = read("deploy/README.md");
    assert!(readme.contains("systemctl reload tapline") && readme.contains("SIGHUP"), "reload documented");
    assert!(readme.contains("needs no restart"), "warrant changes need no restart");
    assert!(!readme.to_lowercase().contains("restart tapline after changing warrants"));
}

#[test]
fn the_package_build_covers_every_installed_piece() {
    let cargo = read("Cargo.toml");
    let meta = cargo.split("[package.metadata.deb]").nth(1).expect("cargo deb metadata");
    for asset in [
        "usr/bin/",
        "etc/default/tapline",
        "grafana-dashboard.json",
        "usr/share/man/man1/",
        "bash-completion/completions/tapline",
        "zsh/vendor-completions",
        "fish/vendor_completions.d",
    ] {
        assert!(meta.contains(asset), "package asset {asset}");
    }
    assert!(meta.contains("systemd-units"), "the unit is installed");
    let postinst = read("deploy/debian/postinst");
    assert!(postinst.contains("adduser --system") && postinst.contains("tapline"), "system user");
    assert!(postinst.contains("-m 0700 /var/lib/tapline/spool") && postinst.contains("-m 0750 /var/lib/tapline/warrants"));
    let ci = read(".ci/deb.sh");
    for step in [
        "--features live",
        "cargo deb",
        "man target/assets/man",
        "completions bash",
        "dpkg -i",
        "systemd-analyze verify",
        "/usr/bin/tapline --version",
    ] {
        assert!(ci.contains(step), ".ci/deb.sh: {step}");
    }
    assert!(read(".ci/run").contains(".ci/deb.sh"), "CI runs the package build");
}
