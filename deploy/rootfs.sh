#!/usr/bin/env bash
# Assembles the root filesystem of a `FROM scratch` image: the given binaries under
# /usr/bin, exactly the shared libraries `ldd` says they load (the dynamic loader
# included), and the few files glibc and Go need to resolve container host names
# (/etc/nsswitch.conf; glibc 2.34+ has its files and dns lookups built in, older ones
# load libnss_files/libnss_dns, copied when present).
#
#   deploy/rootfs.sh OUT_DIR BINARY[=NAME]... [--dir PATH]...
#
# BINARY=NAME installs BINARY as /usr/bin/NAME; --dir PATH creates an empty directory
# in the image (data directories, a bucket). Debug sections are stripped from the
# copies (never from the originals) when `strip` is installed.
set -euo pipefail

out=$1
shift
mkdir -p "$out/usr/bin" "$out/etc" "$out/tmp"
chmod 1777 "$out/tmp"

copy_lib() {
  local lib=$1
  [ -e "$out$lib" ] && return 0
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
}

while [ $# -gt 0 ]; do
  case $1 in
    --dir)
      mkdir -p "$out$2"
      shift 2
      continue
      ;;
  esac
  src=${1%%=*}
  name=$(basename "$src")
  [ "$1" != "$src" ] && name=${1#*=}
  shift
  [ -x "$src" ] || { echo "rootfs.sh: $src is not an executable" >&2; exit 1; }
  if command -v strip >/dev/null; then
    strip --strip-debug -o "$out/usr/bin/$name" "$src"
  else
    cp "$src" "$out/usr/bin/$name"
  fi
  if ldd "$src" >/dev/null 2>&1; then
    # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)"
    for lib in $(ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
      copy_lib "$lib"
    done
    needs_nss=1
  fi
done

if [ "${needs_nss:-}" = 1 ]; then
  libc_dir=$(dirname "$(find "$out" -name 'libc.so.6' | head -1)")
  libc_dir=${libc_dir#"$out"}
  glibc_minor=$(ldd --version | awk 'NR == 1 { split($NF, v, "."); print v[2] }')
  for nss in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
    if [ "${glibc_minor:-99}" -lt 34 ] && [ -e "$libc_dir/$nss" ]; then
      copy_lib "$libc_dir/$nss"
    fi
  done
fi
printf 'hosts: files dns\n' >"$out/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/usr/bin/nologin\nnobody:x:65534:65534:nobody:/:/usr/bin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$out/etc/group"
