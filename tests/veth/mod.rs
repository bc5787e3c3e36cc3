//! A network namespace holding one end of a veth pair, for live capture tests and benches:
//! tcpreplay plays into the end inside the namespace, tapline captures the other. Needs root.

use std::process::{Command, Output};

fn sh(args: &[&str]) -> Output {
    let output = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The namespace and the pair; removed (the pair with the namespace) when dropped.
pub struct Veth {
    pub netns: String,
    /// The end tapline captures on.
    pub capture: String,
    /// The end inside the namespace that tcpreplay plays into.
    pub peer: String,
}

impl Veth {
    /// Creates `tapline-TAG-PID` and the pair `tlTAGPIDa` / `tlTAGPIDb`, both up, MTU 9000,
    /// without IPv6 (the kernel's own neighbour discovery stays off the wire).
    pub fn create(tag: &str) -> Veth {
        let id = std::process::id() % 10_000;
        let veth = Veth {
            netns: format!("tapline-{tag}-{id}"),
            capture: format!("tl{tag}{id}a"),
            peer: format!("tl{tag}{id}b"),
        };
        sh(&["ip", "netns", "add", &veth.netns]);
        sh(&["ip", "link", "add", &veth.capture, "type", "veth", "peer", "name", &veth.peer, "netns", &veth.netns]);
        sh(&["sysctl", "-qw", &format!("net.ipv6.conf.{}.disable_ipv6=1", veth.capture)]);
        sh(&["ip", "link", "set", &veth.capture, "mtu", "9000", "up"]);
        let inside = ["ip", "netns", "exec", veth.netns.as_str()];
        sh(&[&inside[..], &["sysctl", "-qw", &format!("net.ipv6.conf.{}.disable_ipv6=1", veth.peer)]].concat());
        sh(&[&inside[..], &["ip", "link", "set", &veth.peer, "mtu", "9000", "up"]].concat());
        veth
    }

    /// tcpreplay inside the namespace, playing into the peer end (speed and file to add).
    pub fn tcpreplay(&self) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns, "tcpreplay", "-i", &self.peer]);
        command
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}
