//! Man pages (clap_mangen) and shell completions (clap_complete) generated from the
//! command-line definition itself, by the hidden `tapline man` and `tapline completions`
//! subcommands (the Debian package build runs them).

use std::path::Path;

/// Writes `tapline.1` and one `tapline-SUB[-SUB].1` page per subcommand into `dir`.
pub fn write_man_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    write_page(&cmd.clone(), "tapline", dir, &mut written)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("tapline-{}", sub.get_name());
        write_page(sub, &name, dir, &mut written)?;
        for inner in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            write_page(inner, &format!("{name}-{}", inner.get_name()), dir, &mut written)?;
        }
    }
    Ok(written)
}

fn write_page(cmd: &clap::Command, name: &str, dir: &Path, written: &mut usize) -> std::io::Result<()> {
    // clap names are 'static (without its `string` feature); this runs once per page.
    let static_name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let cmd = cmd.clone().name(static_name).bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    *written += 1;
    Ok(())
}

/// Writes the completion script for `shell` to stdout.
pub fn write_completions(mut cmd: clap::Command, shell: clap_complete::Shell) {
    clap_complete::generate(shell, &mut cmd, "tapline", &mut std::io::stdout());
}
