//! Records the git commit the binary is built from as `TAPLINE_GIT_COMMIT` (shown by
//! `tapline --version` and `tapline_build_info`). A packaging build may set it itself;
//! outside a git checkout it is left unset (`unknown`).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|s| !s.is_empty())
}

/// Watches `path` when it exists (a missing one would rerun the script on every build).
fn watch(path: Option<String>) {
    if let Some(p) = path.filter(|p| std::path::Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={p}");
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=TAPLINE_GIT_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    if let Ok(commit) = std::env::var("TAPLINE_GIT_COMMIT") {
        println!("cargo:rustc-env=TAPLINE_GIT_COMMIT={commit}");
        return;
    }
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else { return };
    // Rebuilt when HEAD moves: HEAD itself and the branch ref it names.
    watch(git(&["rev-parse", "--git-path", "HEAD"]));
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &reference]));
        watch(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
    println!("cargo:rustc-env=TAPLINE_GIT_COMMIT={commit}");
}
