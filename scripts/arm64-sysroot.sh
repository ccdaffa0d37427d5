#!/usr/bin/env bash
# An arm64 sysroot for `make ARCH=arm64`: Debian bookworm's arm64 libbpf,
# libelf, zlib and libcurl (headers and libraries, with every library they
# need) unpacked with dpkg -x into a folder. Fetched through a private apt
# configuration: the host's dpkg (no foreign architecture is added) and
# apt setup are left alone. Prints the sysroot's path; cached.
#   scripts/arm64-sysroot.sh [DIR]   (default /var/cache/spantap-arm64)
set -euo pipefail
dir=${1:-${SPANTAP_ARM64_CACHE:-/var/cache/spantap-arm64}}
pkgs=(libbpf-dev libelf-dev zlib1g-dev libcurl4-openssl-dev libc6-dev)
root=$dir/sysroot
stamp=$root/.spantap-sysroot
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${pkgs[*]}" ]; then
	echo "$root"
	exit 0
fi
apt=$dir/apt
mkdir -p "$apt"/{lists/partial,archives/partial,parts,prefs,conf.d} "$dir/debs"
touch "$apt/status"
echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
	>"$apt/sources.list"
cat >"$apt/apt.conf" <<CONF
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "$apt/parts";
Dir::Etc::Parts "$apt/conf.d";
Dir::Etc::Preferences "$apt/prefs/none";
Dir::Etc::PreferencesParts "$apt/prefs";
Dir::State::Lists "$apt/lists";
Dir::State::status "$apt/status";
Dir::Cache "$apt/cache";
Dir::Cache::Archives "$apt/archives";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
CONF
export APT_CONFIG=$apt/apt.conf LC_ALL=C
echo "arm64-sysroot: apt-get update (private lists in $apt)" >&2
apt-get update -qq >&2
# the packages and everything they depend on, as an empty system would install them
mapfile -t want < <(apt-get install -s -qq --no-install-recommends "${pkgs[@]}" |
	sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p')
(cd "$dir/debs" && apt-get download -qq "${want[@]}" >&2)
rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for p in "${want[@]}"; do
	name=${p%%=*} ver=${p#*=}
	deb=$(ls "$dir/debs/${name}_${ver/:/%3a}"_*.deb)
	dpkg -x "$deb" "$root.tmp"
done
echo "${pkgs[*]}" >"$root.tmp/.spantap-sysroot"
rm -rf "$root"
mv "$root.tmp" "$root"
echo "$root"
