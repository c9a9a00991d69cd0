# shellcheck shell=bash
# Helpers shared by deploy/container/build.sh and deploy/container/services.sh (sourced, not run).
#
# The images are built FROM scratch out of Debian 12 (bookworm) packages, without running
# anything of the target architecture: a private apt root (its own sources, lists and cache,
# nothing of the host's apt state is touched) resolves and downloads a package set for
# ARCH (amd64 or arm64) from bookworm, bookworm-updates and bookworm-security; the .debs are
# unpacked side by side (dpkg-deb -x, no maintainer scripts); then only the ELF files an image
# needs and the shared libraries they load (the NEEDED closure, read with readelf, so it works
# for a foreign architecture) are copied into the image's root file system, in merged-/usr
# layout, with each package's copyright file.
#
# Environment: DEPLOY_CACHE (default <repo>/target/deploy/cache), DEBIAN_MIRROR
# (http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR (http://deb.debian.org/debian-security).

DEPLOY_CACHE="${DEPLOY_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/deploy/cache}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
DEBIAN_KEYRING="${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# deb_triplet ARCH -> the multiarch triplet
deb_triplet() {
  case "$1" in
    amd64) echo x86_64-linux-gnu ;;
    arm64) echo aarch64-linux-gnu ;;
    *) die "unsupported architecture '$1' (amd64 or arm64)" ;;
  esac
}

# apt_root ARCH: prints the private apt root for ARCH, creating and refreshing it (lists older
# than a day are fetched again).
apt_root() {
  local arch=$1 root="$DEPLOY_CACHE/apt-$1"
  mkdir -p "$root"/etc/apt/{apt.conf.d,preferences.d,sources.list.d,trusted.gpg.d} \
    "$root"/var/lib/apt/lists/partial "$root"/var/cache/apt/archives/partial "$root"/var/lib/dpkg \
    "$root"/debs
  [[ -f "$root/var/lib/dpkg/status" ]] || : > "$root/var/lib/dpkg/status"
  cat > "$root/etc/apt/sources.list" <<EOF
deb [arch=$arch signed-by=$DEBIAN_KEYRING] $DEBIAN_MIRROR bookworm main
deb [arch=$arch signed-by=$DEBIAN_KEYRING] $DEBIAN_MIRROR bookworm-updates main
deb [arch=$arch signed-by=$DEBIAN_KEYRING] $DEBIAN_SECURITY_MIRROR bookworm-security main
EOF
  cat > "$root/etc/apt/apt.conf" <<EOF
Dir "$root/";
Dir::State::status "$root/var/lib/dpkg/status";
Dir::Etc::Parts "$root/etc/apt/apt.conf.d";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Debug::NoLocking "true";
APT::Sandbox::User "root";
EOF
  if [[ -z "$(find "$root/var/lib/apt/lists" -maxdepth 1 -name '*_Packages*' -mtime -1 2>/dev/null | head -n 1)" ]]; then
    log "apt ($arch): updating package lists from $DEBIAN_MIRROR"
    APT_CONFIG="$root/etc/apt/apt.conf" apt-get -q update >&2 || die "apt-get update failed for $arch"
  fi
  echo "$root"
}

# deb_fetch ARCH PKG... : resolves PKG... and their dependencies (no recommends) for ARCH and
# downloads the .debs; prints their paths, one a line.
deb_fetch() {
  local arch=$1; shift
  local root; root=$(apt_root "$arch")
  local plan
  plan=$(APT_CONFIG="$root/etc/apt/apt.conf" apt-get -s -q install "$@" 2>&1) \
    || { echo "$plan" >&2; die "cannot resolve $* for $arch"; }
  local name ver pkgarch file
  local -a files=() missing=()
  while read -r name ver pkgarch; do
    file="$root/debs/${name}_${ver//:/%3a}_${pkgarch}.deb"
    [[ -s "$file" ]] || missing+=("$name:$pkgarch=$ver")
    files+=("$file")
  done < <(sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) [^[]*\[\([a-z0-9]*\)\]).*/\1 \2 \3/p' <<<"$plan")
  if ((${#missing[@]})); then
    log "apt ($arch): downloading ${#missing[@]} packages"
    (cd "$root/debs" && APT_CONFIG="$root/etc/apt/apt.conf" apt-get -q download "${missing[@]}" >&2) \
      || die "cannot download ${missing[*]}"
  fi
  for file in "${files[@]}"; do
    [[ -s "$file" ]] || die "$file was not downloaded"
    echo "$file"
  done
}

# deb_unpack DIR DEB... : unpacks every .deb into DIR (no scripts run) and writes DIR.index:
# "path<TAB>package" for every file, used to find copyright files.
deb_unpack() {
  local dir=$1; shift
  rm -rf "$dir" "$dir.index" "$dir.versions"
  mkdir -p "$dir"
  local deb pkg
  for deb in "$@"; do
    pkg=$(dpkg-deb -f "$deb" Package)
    dpkg-deb -x "$deb" "$dir"
    dpkg-deb -c "$deb" | awk -v p="$pkg" '{ n = $6; sub(/^\.\//, "", n); if (n != "" && n !~ /\/$/) print n "\t" p }' >> "$dir.index"
    printf '%s %s\n' "$pkg" "$(dpkg-deb -f "$deb" Version)" >> "$dir.versions"
  done
}

# usr_path REL: the merged-/usr path of a path from a package (lib/x -> usr/lib/x).
usr_path() {
  case "$1" in
    lib/*|lib64/*|bin/*|sbin/*) echo "usr/$1" ;;
    *) echo "$1" ;;
  esac
}

# Where a copied file came from (for its copyright file).
declare -gA ROOTFS_PKGS=()

# copy_from_unpacked SRC_ROOT REL DEST_ROOT: copies SRC_ROOT/REL (following a chain of symlinks,
# each copied as a link) to DEST_ROOT in merged-/usr layout.
copy_from_unpacked() {
  local src=$1 rel=$2 dest=$3 guard=0
  while :; do
    rel=${rel#/}
    local to; to="$dest/$(usr_path "$rel")"
    if [[ ! -e "$to" && ! -L "$to" ]]; then
      mkdir -p "$(dirname "$to")"
      cp -a "$src/$rel" "$to"
    fi
    local pkg
    pkg=$(awk -F'\t' -v f="$rel" '$1 == f { print $2; exit }' "$src.index")
    [[ -n "$pkg" ]] && ROOTFS_PKGS[$pkg]=1
    [[ -L "$src/$rel" ]] || break
    local target; target=$(readlink "$src/$rel")
    if [[ "$target" == /* ]]; then rel=$target; else rel="$(dirname "$rel")/$target"; fi
    rel=$(realpath -m -s --relative-to=/ "/$rel")
    (( ++guard < 10 )) || die "symlink loop at $rel"
  done
}

# resolve_in ROOT REL: REL with its symlinks followed inside ROOT (absolute targets are taken
# relative to ROOT, not the host), as a path relative to ROOT.
resolve_in() {
  local root=$1 rel=${2#/} guard=0 head target
  local -a parts
  while :; do
    # Resolve component by component so that links in folders (lib -> usr/lib) count too.
    IFS=/ read -r -a parts <<<"$rel"
    head=""
    local changed=0 i
    for ((i = 0; i < ${#parts[@]}; i++)); do
      head=${head:+$head/}${parts[i]}
      if [[ -L "$root/$head" ]]; then
        target=$(readlink "$root/$head")
        if [[ "$target" == /* ]]; then head=${target#/}; else head="$(dirname "$head")/$target"; fi
        local rest; rest=$(IFS=/; echo "${parts[*]:i+1}")
        rel=$(realpath -m -s --relative-to=/ "/$head${rest:+/$rest}")
        changed=1
        break
      fi
    done
    ((changed)) || break
    (( ++guard < 40 )) || die "symlink loop at $2"
  done
  echo "$rel"
}

# elf_needed FILE: the NEEDED entries of an ELF file (any architecture).
elf_needed() {
  readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

# copy_closure SRC_ROOT DEST_ROOT ARCH FILE... : the ELF files FILE... (paths inside DEST_ROOT,
# already there) and every library they need, found in DEST_ROOT/usr/lib/osprey (bundled
# engines), the multiarch folders of SRC_ROOT, or beside the file ($ORIGIN), copied from
# SRC_ROOT. Fails on a library found nowhere.
copy_closure() {
  local src=$1 dest=$2 arch=$3; shift 3
  local triplet; triplet=$(deb_triplet "$arch")
  local -a queue=("$@")
  local -A seen=()
  local f lib dir found
  while ((${#queue[@]})); do
    f=${queue[0]}; queue=("${queue[@]:1}")
    [[ -n "${seen[$f]:-}" ]] && continue
    seen[$f]=1
    # The program interpreter (/lib64/ld-linux-x86-64.so.2, /lib/ld-linux-aarch64.so.1) is
    # loaded by the kernel by path: copy that path (a link into the multiarch folder) too.
    local interp
    interp=$(readelf -l "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
    if [[ -n "$interp" && ! -e "$dest/$(usr_path "${interp#/}")" ]]; then
      [[ -e "$src/${interp#/}" || -L "$src/${interp#/}" ]] || die "interpreter $interp is in none of the packages"
      copy_from_unpacked "$src" "$interp" "$dest"
    fi
    while read -r lib; do
      [[ -z "$lib" ]] && continue
      found=""
      for dir in "$(dirname "$f")" usr/lib/osprey "usr/lib/$triplet" "lib/$triplet" usr/lib lib; do
        dir=${dir#"$dest"/}
        if [[ -e "$dest/$dir/$lib" ]]; then found="$dir/$lib"; break; fi
      done
      if [[ -z "$found" ]]; then
        for dir in "lib/$triplet" "usr/lib/$triplet" lib usr/lib; do
          if [[ -e "$src/$dir/$lib" || -L "$src/$dir/$lib" ]]; then
            copy_from_unpacked "$src" "$dir/$lib" "$dest"
            found="$(usr_path "$dir/$lib")"
            break
          fi
        done
      fi
      [[ -n "$found" ]] || die "$lib (needed by ${f#"$dest"/}) is in none of the packages"
      queue+=("$dest/$(resolve_in "$dest" "$found")")
    done < <(elf_needed "$f")
  done
}

# copy_copyrights SRC_ROOT DEST_ROOT: usr/share/doc/<pkg>/copyright of every package a copied
# file came from.
copy_copyrights() {
  local src=$1 dest=$2 pkg
  for pkg in "${!ROOTFS_PKGS[@]}"; do
    if [[ -f "$src/usr/share/doc/$pkg/copyright" ]]; then
      mkdir -p "$dest/usr/share/doc/$pkg"
      cp "$src/usr/share/doc/$pkg/copyright" "$dest/usr/share/doc/$pkg/"
    fi
  done
}

# base_rootfs SRC_ROOT DEST_ROOT: the merged-/usr skeleton, CA bundle, time zones, os-release,
# nsswitch.conf, /tmp.
base_rootfs() {
  local src=$1 dest=$2
  mkdir -p "$dest"/{etc,tmp,usr/bin,usr/sbin,usr/lib,usr/lib64,var/tmp,run,proc,sys,dev}
  chmod 1777 "$dest/tmp" "$dest/var/tmp"
  ln -sfn usr/bin "$dest/bin"; ln -sfn usr/sbin "$dest/sbin"
  ln -sfn usr/lib "$dest/lib"; ln -sfn usr/lib64 "$dest/lib64"
  if [[ -d "$src/usr/share/ca-certificates/mozilla" ]]; then
    mkdir -p "$dest/etc/ssl/certs"
    cat "$src"/usr/share/ca-certificates/mozilla/*.crt > "$dest/etc/ssl/certs/ca-certificates.crt"
    ROOTFS_PKGS[ca-certificates]=1
  fi
  if [[ -d "$src/usr/share/zoneinfo" ]]; then
    mkdir -p "$dest/usr/share"
    cp -a "$src/usr/share/zoneinfo" "$dest/usr/share/"
    ln -sfn /usr/share/zoneinfo/Etc/UTC "$dest/etc/localtime"
    echo "Etc/UTC" > "$dest/etc/timezone"
    ROOTFS_PKGS[tzdata]=1
  fi
  if [[ -f "$src/usr/lib/os-release" ]]; then
    cp "$src/usr/lib/os-release" "$dest/usr/lib/os-release"
    ln -sfn ../usr/lib/os-release "$dest/etc/os-release"
    ROOTFS_PKGS[base-files]=1
  fi
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' \
    > "$dest/etc/nsswitch.conf"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$dest/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$dest/etc/group"
}

# add_user DEST_ROOT NAME UID HOME: a system user and its group.
add_user() {
  local dest=$1 name=$2 uid=$3 home=$4
  grep -q "^$name:" "$dest/etc/passwd" || echo "$name:x:$uid:$uid:$name:$home:/usr/sbin/nologin" >> "$dest/etc/passwd"
  grep -q "^$name:" "$dest/etc/group" || echo "$name:x:$uid:" >> "$dest/etc/group"
}

# podman_env: points podman (and podman-compose, which runs podman) at a containers.conf with
# the settings this kind of sandbox needs: runc, cgroupfs, no default ulimits, file event log.
# Harmless on an ordinary host. An existing CONTAINERS_CONF is kept.
podman_env() {
  if [[ -z "${CONTAINERS_CONF:-}" ]]; then
    CONTAINERS_CONF="$DEPLOY_CACHE/containers.conf"
    mkdir -p "$DEPLOY_CACHE"
    if [[ ! -f "$CONTAINERS_CONF" ]]; then
      printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
        > "$CONTAINERS_CONF"
    fi
    export CONTAINERS_CONF
  fi
}

# podman_cmd: podman with podman_env's settings. PODMAN_FLAGS adds global flags.
podman_cmd() {
  podman_env
  # Without systemd (a container, a chroot) podman logs that it cannot add health-check timers
  # at every run; the checks still work with `podman healthcheck run`. Drop that noise.
  # shellcheck disable=SC2086
  podman ${PODMAN_FLAGS:-} "$@" 2> >(grep -v 'unable to get systemd connection' >&2)
}
