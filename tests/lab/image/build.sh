#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the lab node's disk image from Debian packages, without loop mounts:
#   debootstrap trixie into a directory -> kernels, headers, our netdevsim
#   (built here, on the host, against each guest kernel), GRUB, iproute2's ip
#   with kernel/iproute2's netkit patches (/opt/vmnet-iproute2) -> mkfs.ext4 -d
#   into the first partition of an MBR-partitioned disk (BIOS and GRUB), and a copy
#   of that root with systemd-boot instead of GRUB into a GPT disk with an ESP (UEFI).
# Usage: build.sh OUTDIR   (OUTDIR gets disk.raw, disk-systemd-boot.raw, vmlinuz-*, initrd.img-*,
#                           kernels.txt)
# GRUB's boot code is written to the disk by the node itself, on its first boot (lab.py: a real
# grub-install and update-grub on /dev/vda, which a chroot has no device for).
# The guest's own APT sources are the private configuration for the trixie
# suites; the host's package sources are never touched.
set -euo pipefail
OUT=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
# The Debian archive: VMNET_LAB_MIRROR, else the one this host's APT uses (a site's own mirror or
# proxy works without an edit), else Debian's default. APT's proxy setting is passed on too.
MIRROR=${VMNET_LAB_MIRROR:-$(python3 "$HERE/host_mirror.py")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if [ -z "${http_proxy:-}" ]; then
    proxy=$(apt-config shell P Acquire::http::Proxy 2>/dev/null | sed -n "s/^P='\(.*\)'$/\1/p")
    if [ -n "$proxy" ]; then export http_proxy=$proxy; fi
fi
# iproute2 with kernel/iproute2's patches: Debian's orig tarball of this version, checked
IPROUTE2_VERSION=7.2.0
IPROUTE2_SHA256=4c2fa124c2cf0afd7ca34d1eeacba6ba048a56f6374e2aab93dafbdbd4eea9c0
SOURCES=$(cd "$OUT/../.." && pwd)/sources
WORK=$(mktemp -d "${OUT%/}.work.XXXXXX")
ROOTFS=$WORK/root
mounted=()

cleanup() {
    local m
    for ((i=${#mounted[@]}-1; i>=0; i--)); do
        m=${mounted[$i]}
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

in_root() { LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" "$@"; }

step "debootstrap trixie (minbase) into $ROOTFS"
debootstrap --variant=minbase \
    --include="$(paste -sd, "$HERE/packages.txt")" \
    trixie "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

for fs in proc sys dev; do
    mount --bind "/$fs" "$ROOTFS/$fs"
    mounted+=("$ROOTFS/$fs")
done

step "guest configuration (APT sources, initramfs, units)"
cp -a "$HERE/rootfs/." "$ROOTFS/"
sed -i "s#@MIRROR@#$MIRROR#" "$ROOTFS/etc/apt/sources.list.d/debian.sources"
rm -f "$ROOTFS/etc/apt/sources.list"
echo lab-node >"$ROOTFS/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 lab-node\n' >"$ROOTFS/etc/hosts"
printf '/dev/vda1 / ext4 rw,relatime 0 1\n' >"$ROOTFS/etc/fstab"
in_root apt-get update -q >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }

step "GRUB (BIOS) and kexec-tools"
# No install device yet (the node installs GRUB on its first boot), and a reboot stays a reboot
# (kexec only when asked for: the netkit_kernel role's kexec method).
printf '%s\n' 'grub-pc grub-pc/install_devices multiselect' 'grub-pc grub-pc/install_devices_empty boolean true' \
    'kexec-tools kexec-tools/load_kexec boolean false' | in_root debconf-set-selections
in_root apt-get install -y -q --no-install-recommends grub-pc kexec-tools >>"$WORK/apt.log" 2>&1 \
    || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }

step "kernels: trixie-backports 7.x and trixie 6.12, with headers and sources"
# Both versions stay installed; the lab picks one with -kernel at boot.
in_root apt-get install -y -q --no-install-recommends \
    linux-image-amd64/trixie linux-headers-amd64/trixie >>"$WORK/apt.log" 2>&1 \
    || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
in_root apt-get install -y -q --no-install-recommends -t trixie-backports \
    linux-image-amd64 linux-headers-amd64 >>"$WORK/apt.log" 2>&1 \
    || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }

: >"$OUT/kernels.txt.new"
for kdir in "$ROOTFS"/lib/modules/*; do
    kv=${kdir##*/}
    series=$(echo "$kv" | cut -d. -f1,2)
    step "netdevsim for $kv (linux-source-$series + kernel/netdevsim/$series)"
    in_root apt-get install -y -q --no-install-recommends "linux-source-$series" >>"$WORK/apt.log" 2>&1 \
        || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
    src=$WORK/netdevsim-$kv
    mkdir -p "$src"
    tar -xaf "$ROOTFS/usr/src/linux-source-$series.tar.xz" -C "$src" --strip-components=4 \
        "linux-source-$series/drivers/net/netdevsim"
    cp "$REPO"/kernel/netdevsim/src/* "$src/"
    # A stock netdevsim has no RSS contexts or ntuple rules: a series without its hooks is an error.
    if ! ls "$REPO/kernel/netdevsim/$series"/*.patch >/dev/null 2>&1; then
        echo "build.sh: no netdevsim hooks for kernel $kv: add kernel/netdevsim/$series/*.patch" \
             "(see kernel/netdevsim/README.md)" >&2
        exit 1
    fi
    for p in "$REPO/kernel/netdevsim/$series"/*.patch; do
        patch -d "$src" -p4 --quiet --forward <"$p"
    done
    mkdir -p "$ROOTFS/build"
    rm -rf "$ROOTFS/build/netdevsim"
    cp -a "$src" "$ROOTFS/build/netdevsim"
    in_root make -s -C "/lib/modules/$kv/build" M=/build/netdevsim CONFIG_NETDEVSIM=m modules \
        >"$WORK/netdevsim-$kv.log" 2>&1 || { tail -n 40 "$WORK/netdevsim-$kv.log" >&2; exit 1; }
    install -D -m 0644 "$ROOTFS/build/netdevsim/netdevsim.ko" \
        "$ROOTFS/lib/modules/$kv/updates/netdevsim.ko"
    in_root depmod "$kv"
    in_root apt-get purge -y -q "linux-source-$series" >>"$WORK/apt.log" 2>&1
    rm -rf "$ROOTFS/build/netdevsim"
    echo "$kv" >>"$OUT/kernels.txt.new"
done

if [ -d "$HERE/programs" ]; then
    step "test programs"
    mkdir -p "$ROOTFS/build/programs"
    cp -a "$HERE/programs/." "$ROOTFS/build/programs/"
    in_root make -s -C /build/programs install >"$WORK/programs.log" 2>&1 \
        || { tail -n 40 "$WORK/programs.log" >&2; exit 1; }
    rm -rf "$ROOTFS/build/programs"
fi

step "iproute2 $IPROUTE2_VERSION with kernel/iproute2's netkit patches (/opt/vmnet-iproute2/sbin/ip)"
# Debian's orig tarball (upstream's release), fetched once into the lab cache and checked; pkg-config
# and libmnl-dev only for the build (without libmnl, ip prints no kernel error messages)
tarball=$SOURCES/iproute2_$IPROUTE2_VERSION.orig.tar.xz
if ! echo "$IPROUTE2_SHA256  $tarball" | sha256sum --check --status 2>/dev/null; then
    mkdir -p "$SOURCES"
    python3 - "$MIRROR/pool/main/i/iproute2/${tarball##*/}" "$tarball.part" <<'PY' || exit 1
import sys, urllib.request
try:
    urllib.request.urlretrieve(sys.argv[1], sys.argv[2])
except OSError as err:
    sys.exit("build.sh: cannot fetch %s: %s" % (sys.argv[1], err))
PY
    echo "$IPROUTE2_SHA256  $tarball.part" | sha256sum --check --status \
        || { echo "build.sh: ${tarball##*/} does not have sha256 $IPROUTE2_SHA256" >&2; exit 1; }
    mv "$tarball.part" "$tarball"
fi
in_root apt-get install -y -q --no-install-recommends pkg-config libmnl-dev >>"$WORK/apt.log" 2>&1 \
    || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
mkdir -p "$ROOTFS/build"
tar -xaf "$tarball" -C "$ROOTFS/build"
for p in "$REPO/kernel/iproute2/$IPROUTE2_VERSION"/*.patch; do
    patch -d "$ROOTFS/build/iproute2-$IPROUTE2_VERSION" -p1 --quiet --forward <"$p"
done
in_root sh -c "cd /build/iproute2-$IPROUTE2_VERSION && ./configure && make SUBDIRS='lib ip'" \
    >"$WORK/iproute2.log" 2>&1 || { tail -n 40 "$WORK/iproute2.log" >&2; exit 1; }
install -D -m 0755 "$ROOTFS/build/iproute2-$IPROUTE2_VERSION/ip/ip" "$ROOTFS/opt/vmnet-iproute2/sbin/ip"
in_root apt-get purge -y -q pkg-config libmnl-dev >>"$WORK/apt.log" 2>&1
rm -rf "$ROOTFS/build/iproute2-$IPROUTE2_VERSION"

step "the systemd-boot disk's root: a copy, GRUB replaced by systemd-boot, the ESP at /boot/efi"
# A host that boots through UEFI firmware and systemd-boot, as Debian installs one: the kernel
# packages' hooks (kernel-install) put each kernel and initrd on the ESP with a loader entry, and the
# one-shot and default entries live in the firmware's EFI variables. bootctl and kernel-install see
# a chroot and a tmpfs here, not a FAT partition: SYSTEMD_RELAX_ESP_CHECKS lets them write it (a
# mount of its own, so the entries name their files relative to the ESP), and its files are copied
# into a FAT image for the disk's first partition (no loop mount).
EFIROOT=$WORK/root-efi
cp -a --one-file-system "$ROOTFS" "$EFIROOT"
for fs in proc sys dev; do
    mount --bind "/$fs" "$EFIROOT/$fs"
    mounted+=("$EFIROOT/$fs")
done
in_efi() { LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive SYSTEMD_RELAX_ESP_CHECKS=1 chroot "$EFIROOT" "$@"; }
in_efi apt-get purge -y -q grub-pc grub-pc-bin grub2-common grub-common >>"$WORK/apt.log" 2>&1 \
    || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
rm -rf "$EFIROOT/boot/grub" "$EFIROOT/etc/default/grub.d"
mkdir -p "$EFIROOT/boot/efi" "$EFIROOT/etc/kernel"
mount -t tmpfs -o size=256m,mode=0700 vmnet-lab-esp "$EFIROOT/boot/efi"
mounted+=("$EFIROOT/boot/efi")
# Boot Loader Specification entries on the ESP, named by the OS id (debian-RELEASE.conf) from the
# first: the package's own postinst already installs the loader and adds the installed kernels
echo "layout=bls" >"$EFIROOT/etc/kernel/install.conf"
echo "debian" >"$EFIROOT/etc/kernel/entry-token"
# nofail: a kernel without FAT support still boots (and the role's verification says what it lacks)
printf '/dev/vda2 / ext4 rw,relatime 0 1\n/dev/vda1 /boot/efi vfat umask=0077,nofail 0 2\n' >"$EFIROOT/etc/fstab"
# the command line of every entry kernel-install writes: the GRUB disk's, root on partition 2
echo "root=/dev/vda2 rw console=ttyS0 net.ifnames=1 panic=10" >"$EFIROOT/etc/kernel/cmdline"
in_efi apt-get install -y -q --no-install-recommends systemd-boot >>"$WORK/apt.log" 2>&1 \
    || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }
in_efi bootctl install --esp-path=/boot/efi --no-variables --entry-token=os-id >>"$WORK/efi.log" 2>&1 \
    || { cat "$WORK/efi.log" >&2; exit 1; }
for kdir in "$EFIROOT"/lib/modules/*; do
    kv=${kdir##*/}
    in_efi kernel-install --esp-path=/boot/efi add "$kv" "/boot/vmlinuz-$kv" "/boot/initrd.img-$kv" \
        >>"$WORK/efi.log" 2>&1 || { cat "$WORK/efi.log" >&2; exit 1; }
done
esp_mib=256
mkfs.fat -F 32 -n LAB-ESP -C "$WORK/esp.img" $((esp_mib * 1024)) >/dev/null
mcopy -s -p -Q -i "$WORK/esp.img" "$EFIROOT/boot/efi/"* ::/

step "trim and finalise"
for root in "$ROOTFS" "$EFIROOT"; do
    chroot "$root" systemctl enable vmnet-lab-key.service vmnet-lab-nic.service >/dev/null 2>&1
    chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service \
        systemd-timesyncd.service fstrim.timer >/dev/null 2>&1 || true
    chroot "$root" apt-get clean
    chroot "$root" ssh-keygen -A >/dev/null
    rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
done
for m in "${mounted[@]}"; do umount -l "$m"; done
mounted=()

for k in "$ROOTFS"/boot/vmlinuz-*; do
    cp "$k" "$OUT/"
    cp "$ROOTFS/boot/initrd.img-${k##*/vmlinuz-}" "$OUT/"
done
step "mkfs.ext4 -d into partition 1 of an MBR disk (no loop mount)"
# partition 1 starts at 1 MiB: the gap before it holds GRUB's core image
mkfs.ext4 -q -F -L lab-root -E offset=1048576 -d "$ROOTFS" "$OUT/disk.raw.new" 4G
truncate -s $((4 * 1024 * 1024 * 1024 + 1024 * 1024)) "$OUT/disk.raw.new"
echo 'start=2048, size=8388608, type=83, bootable' | sfdisk -q "$OUT/disk.raw.new"
mv "$OUT/disk.raw.new" "$OUT/disk.raw"

step "the ESP's FAT image and mkfs.ext4 -d into a GPT disk: the systemd-boot disk"
# partition 1: the ESP (256 MiB FAT32, from 1 MiB, made above); partition 2: the root; 1 MiB at the
# end for GPT's backup header
mkfs.ext4 -q -F -L lab-root -E offset=$(((1 + esp_mib) * 1048576)) -d "$EFIROOT" "$OUT/disk-systemd-boot.raw.new" 4G
truncate -s $(((1 + esp_mib + 4096 + 1) * 1048576)) "$OUT/disk-systemd-boot.raw.new"
dd if="$WORK/esp.img" of="$OUT/disk-systemd-boot.raw.new" bs=1M seek=1 conv=notrunc,sparse status=none
printf 'label: gpt\nstart=2048, size=%d, type=U, name="ESP"\nstart=%d, size=8388608, type=L, name="root"\n' \
    $((esp_mib * 2048)) $(((1 + esp_mib) * 2048)) | sfdisk -q "$OUT/disk-systemd-boot.raw.new"
mv "$OUT/disk-systemd-boot.raw.new" "$OUT/disk-systemd-boot.raw"
mv "$OUT/kernels.txt.new" "$OUT/kernels.txt"
step "image ready in $OUT"
