//! The command line as a whole: every argument and subcommand has help text, and the flag
//! names follow one scheme across subcommands (`--listen` / `--X-listen` for addresses
//! served, `--client-ca` / `--X-client-ca` for the CA client certificates must chain to).

use clap::{Arg, Command, CommandFactory};

/// Every (command path, argument) of the tree, clap's own `--help`/`--version` left out.
fn args(cmd: &Command, path: &str, out: &mut Vec<(String, Arg)>) {
    for a in cmd.get_arguments() {
        if !matches!(a.get_id().as_str(), "help" | "version") {
            out.push((path.to_owned(), a.clone()));
        }
    }
    for sub in cmd.get_subcommands() {
        args(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

fn commands<'a>(cmd: &'a Command, path: &str, out: &mut Vec<(String, &'a Command)>) {
    for sub in cmd.get_subcommands() {
        let p = format!("{path} {}", sub.get_name());
        out.push((p.clone(), sub));
        commands(sub, &p, out);
    }
}

fn help(a: &Arg) -> String {
    a.get_help().or(a.get_long_help()).map(|h| h.to_string()).unwrap_or_default()
}

fn all_args() -> Vec<(String, Arg)> {
    let mut out = Vec::new();
    args(&crate::Cli::command(), "tapline", &mut out);
    out
}

#[test]
fn every_argument_and_subcommand_has_help_text() {
    let all = all_args();
    assert!(all.len() > 50, "the walk reaches the subcommands: {}", all.len());
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, a)| help(a).trim().is_empty())
        .map(|(path, a)| format!("{path} {}", a.get_long().map_or_else(|| a.get_id().to_string(), |l| format!("--{l}"))))
        .collect();
    assert!(missing.is_empty(), "arguments without help text: {missing:#?}");
    let root = crate::Cli::command();
    let mut subs = Vec::new();
    commands(&root, "tapline", &mut subs);
    let bare: Vec<&String> = subs.iter().filter(|(_, c)| c.get_about().is_none()).map(|(p, _)| p).collect();
    assert!(bare.is_empty(), "subcommands without help text: {bare:#?}");
}

#[test]
fn flag_names_are_consistent_across_subcommands() {
    let mut wrong = Vec::new();
    for (path, a) in all_args() {
        let Some(long) = a.get_long() else { continue };
        let text = help(&a).to_lowercase();
        // An address this process serves on.
        let serves = long.contains("listen") || text.contains("listen on") || text.contains("to listen");
        if serves && !(long == "listen" || long.ends_with("-listen")) {
            wrong.push(format!("{path} --{long}: an address served on is --listen or --X-listen"));
        }
        // The CA that client certificates must chain to.
        let client_ca = long.contains("client-ca") || (text.starts_with("ca of ") && text.contains("client"));
        if client_ca && !(long == "client-ca" || long.ends_with("-client-ca")) {
            wrong.push(format!("{path} --{long}: the clients' CA is --client-ca or --X-client-ca"));
        }
        for synonym in ["bind", "addr", "address", "clientca", "ca-client", "listen-addr"] {
            if long.split('-').any(|w| w == synonym) || long == synonym {
                wrong.push(format!("{path} --{long}: use --listen / --client-ca, not `{synonym}`"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Flags of other tools the documents mention (cargo, xmllint, etsi_oracle.py, tcpreplay), and
/// clap's own.
const OTHER_TOOLS: &[&str] = &[
    "bench", "features", "release", "profile", "test", "locked", "nocapture", "schema", "type", "help", "version", "topspeed", "pps",
];

#[test]
fn documented_flags_are_the_current_names() {
    let known: std::collections::BTreeSet<String> =
        all_args().iter().filter(|(_, a)| !a.is_hide_set()).filter_map(|(_, a)| a.get_long().map(str::to_owned)).collect();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut unknown = Vec::new();
    for doc in ["README.md", "deploy/README.md", "deploy/tapline.service", "deploy/tapline.default"] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap_or_else(|e| panic!("{doc}: {e}"));
        for (i, _) in text.match_indices("--") {
            let rest = &text[i + 2..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-').collect();
            let before = text[..i].chars().next_back();
            if name.is_empty() || name.starts_with('-') || before.is_some_and(|c| c.is_alphanumeric() || c == '-') {
                continue;
            }
            if !known.contains(&name) && !OTHER_TOOLS.contains(&name.as_str()) {
                unknown.push(format!("{doc}: --{name}"));
            }
        }
    }
    unknown.dedup();
    assert!(unknown.is_empty(), "documented flags tapline does not have (or only as hidden old names): {unknown:#?}");
}
