#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds a qemu that can run the VMs' qemu arguments on the lab node: Debian's own qemu source
# (trixie), configured with AF_XDP (libxdp), plus af-xdp-map-path.patch, which gives qemu 10.0 the
# map-path and map-start-index options of qemu 10.1 (Debian's qemu packages are built without
# libxdp, and the archive this lab reaches has no 10.1 source). Only the x86_64 system emulator is
# built, in a trixie chroot on this machine (the lab node is trixie too), at native speed.
#
#   tests/lab/qemu/build.sh OUTDIR
#
# OUTDIR gets qemu.tar.gz: bin/qemu-system-x86_64, the shared libraries it needs (lib/), the
# firmware a pc machine with a virtio-net device loads (share/: SeaBIOS and iPXE's virtio ROM from
# Debian's packages), and ./qemu, a wrapper that runs it with those; unpacked anywhere on the node.
set -euo pipefail
OUT=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MIRROR=${VMNET_LAB_MIRROR:-$(python3 "$HERE/../image/host_mirror.py")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if [ -z "${http_proxy:-}" ]; then
    proxy=$(apt-config shell P Acquire::http::Proxy 2>/dev/null | sed -n "s/^P='\(.*\)'$/\1/p")
    if [ -n "$proxy" ]; then export http_proxy=$proxy; fi
fi
WORK=$(mktemp -d "${OUT%/}.work.XXXXXX")
ROOT=$WORK/root
mounted=()
cleanup() {
    local i
    for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '[%(%H:%M:%S)T] qemu build: %s\n' -1 "$*" >&2; }
in_root() { LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$ROOT" "$@"; }

step "debootstrap trixie with qemu's build dependencies"
debootstrap --variant=minbase \
    --include=build-essential,dpkg-dev,meson,ninja-build,pkg-config,python3,python3-venv,python3-pycotap,flex,bison,libglib2.0-dev,libpixman-1-dev,zlib1g-dev,libxdp-dev,libbpf-dev,libelf-dev,seabios,ipxe-qemu,ca-certificates \
    trixie "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }
for fs in proc dev; do
    mount --bind "/$fs" "$ROOT/$fs"
    mounted+=("$ROOT/$fs")
done

step "Debian's qemu source (trixie)"
echo "deb-src $MIRROR trixie main" >"$ROOT/etc/apt/sources.list.d/src.list"
in_root apt-get update -q >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
mkdir -p "$ROOT/build"
in_root sh -c "cd /build && apt-get source -q qemu/trixie" >>"$WORK/apt.log" 2>&1 \
    || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
src=$(find "$ROOT/build" -maxdepth 1 -type d -name 'qemu-*' | head -n 1)
patch -d "$src" -p1 --quiet --forward <"$HERE/af-xdp-map-path.patch"
# Debian's source leaves out the prebuilt firmware (+ds); only the binary is built here, so nothing
# asks for the EDK2 images meson would otherwise unpack
sed -i 's/^    unpack_edk2_blobs = bzip2.found()/    unpack_edk2_blobs = false/' "$src/meson.build"

step "configure and build qemu-system-x86_64 ($(nproc) jobs)"
started=$(date +%s)
in_root sh -c "cd /build/$(basename "$src") && mkdir -p b && cd b && ../configure --prefix=/opt/vmnet-qemu \
    --target-list=x86_64-softmmu --without-default-features --enable-tcg --enable-af-xdp --enable-bpf \
    --enable-pixman --disable-docs --disable-werror --disable-download --disable-install-blobs \
    && ninja -j$(nproc) qemu-system-x86_64" >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log" >&2; exit 1; }

step "bundle"
bundle=$WORK/bundle
mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/share"
cp "$src/b/qemu-system-x86_64" "$bundle/bin/"
in_root ldd "/build/$(basename "$src")/b/qemu-system-x86_64" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
    case $(basename "$lib") in libc.so*|libm.so*|ld-linux*) continue ;; esac
    cp -L "$ROOT$lib" "$bundle/lib/"
done
cp -L "$ROOT/usr/share/seabios/bios-256k.bin" "$ROOT/usr/share/qemu/efi-virtio.rom" "$bundle/share/"
cat >"$bundle/qemu" <<'EOF'
#!/bin/sh
# qemu-system-x86_64 with AF_XDP, with its own libraries and firmware
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH=$here/lib exec "$here/bin/qemu-system-x86_64" -L "$here/share" "$@"
EOF
chmod 755 "$bundle/qemu"
basename "$src" | sed 's/^qemu-//' >"$bundle/version"
tar -czf "$OUT/qemu.tar.gz" -C "$bundle" .
echo "$(( $(date +%s) - started ))" >"$OUT/build-seconds"
step "built qemu $(cat "$bundle/version") in $(cat "$OUT/build-seconds") s: $OUT/qemu.tar.gz"
