#!/usr/bin/env bash
# Builds the Debian package (binary with `live`, unit, dashboard, man pages, completions),
# installs it with dpkg -i, and checks what was installed: `systemd-analyze verify` on the
# unit, `tapline --version` from /usr/bin, the user and directory modes.
# Uses the `deb` profile (release without fat LTO): the release build is the cost.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
need=()
[ -e /usr/include/pcap.h ] || need+=(libpcap-dev)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v adduser >/dev/null 2>&1 || need+=(adduser)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb

started=$(date +%s)
TAPLINE_GIT_COMMIT=${TAPLINE_GIT_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
export TAPLINE_GIT_COMMIT
cargo build --locked --profile deb --features live
bin=target/deb/tapline
rm -rf target/assets
mkdir -p target/assets/completions
"$bin" man target/assets/man
"$bin" completions bash > target/assets/completions/tapline.bash
"$bin" completions zsh > target/assets/completions/_tapline
"$bin" completions fish > target/assets/completions/tapline.fish
gzip -9nf target/assets/man/*.1
# The asset list names target/release/; cargo deb --profile deb maps it to target/deb/.
cargo deb --profile deb --no-build --no-strip
deb=$(ls -t target/debian/tapline_*.deb | head -1)
echo "built $deb ($(du -h "$deb" | cut -f1)) in $(( $(date +%s) - started )) s"

dpkg -i "$deb"
systemd-analyze verify /usr/lib/systemd/system/tapline.service
version=$(/usr/bin/tapline --version)
echo "$version"
case "$version" in
    *"commit $TAPLINE_GIT_COMMIT"*"features: live"*) ;;
    *) echo "tapline --version from the package does not name commit and features" >&2; exit 1 ;;
esac
getent passwd tapline >/dev/null
[ "$(stat -c '%U %a' /var/lib/tapline/spool)" = "tapline 700" ]
[ "$(stat -c '%U %a' /var/lib/tapline/warrants)" = "tapline 750" ]
[ -s /usr/share/tapline/grafana-dashboard.json ]
man -w tapline >/dev/null 2>&1 || [ -e /usr/share/man/man1/tapline.1.gz ]
[ -e /usr/share/man/man1/tapline-run.1.gz ]
[ -e /usr/share/bash-completion/completions/tapline ]
echo "package ok"
