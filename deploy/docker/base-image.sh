#!/usr/bin/env bash
# A stand-in for the Bento Dockerfile's base image (python:3.11-slim), built from Debian packages,
# for machines that reach no container registry. On GitHub, buildx pulls the real image instead.
#
#   deploy/docker/base-image.sh IMAGE ARCHIVE
#
# IMAGE is the Dockerfile's FROM (e.g. python:3.11-slim); ARCHIVE the docker-archive it is saved
# to, outside the checkout (the Makefile uses ~/.cache/conveyor/), so every later build and every
# clone reuses it. An existing ARCHIVE is kept: delete it to rebuild.
#
# What it keeps from the python image: Debian bookworm, Python 3.11 (Debian's 3.11.2, not the
# image's own build of the latest 3.11.x), the same paths (/usr/local/bin/python3, python,
# python3.11, pip, pip3), pip that installs into the system (no EXTERNALLY-MANAGED), root as the
# only user, LANG=C.UTF-8, CMD python3, no apt lists or caches. What it adds: the machine's CA
# certificates (so pip and uv reach PyPI through this machine's TLS proxy) and SSL_CERT_FILE.
set -euo pipefail

image="${1:?usage: base-image.sh IMAGE ARCHIVE}"
archive="${2:?usage: base-image.sh IMAGE ARCHIVE}"

if [ -s "$archive" ]; then
  echo "base image: reusing $archive"
  exit 0
fi
for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || {
    echo "base image: $tool is missing: apt-get install debootstrap buildah (Debian)" >&2
    exit 2
  }
done
case "$image" in
  python:3.11-slim | docker.io/library/python:3.11-slim) ;;
  *)
    echo "base image: only python:3.11-slim has a stand-in here, the Dockerfile wants $image" >&2
    exit 2
    ;;
esac

# The machine's own Debian mirror (deb822 sources or the classic list), else Debian's CDN.
mirror="$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security |
  head -n1 | awk '{print $2}')"
[ -n "$mirror" ] || mirror="$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')"
mirror="${mirror:-http://deb.debian.org/debian}"

work="$(mktemp -d "${TMPDIR:-/tmp}/conveyor-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
# A throw-away image store: only the archive is kept.
storage=(--storage-driver vfs --root "$work/graph" --runroot "$work/run")
echo "base image: debootstrap bookworm from $mirror (about 5 minutes)"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  echo "base image: debootstrap failed (log above)" >&2
  exit 1
}

# Same apt sources as the python image (bookworm, updates, security), on this machine's mirror.
security="${mirror%/debian}/debian-security"
cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
# The python image's paths: its interpreter and pip live in /usr/local/bin.
for name in python python3 python3.11; do ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/$name"; done
for name in pip pip3; do ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/$name"; done
# The python image's pip installs system-wide; Debian's refuses unless this marker is gone.
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
# The machine's extra CA certificates: pip/uv in the Bento build reach PyPI through its TLS proxy.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  # (its rehash warns about the bundle file itself: noise, the bundle is rebuilt all the same)
  chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || {
    echo "base image: update-ca-certificates failed in the new root file system" >&2
    exit 1
  }
fi
# Nothing the python image does not carry: apt lists and caches, debootstrap's leftovers.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/var/log/* "$rootfs"/debootstrap

container="$(buildah "${storage[@]}" from scratch)"
trap 'rm -rf "$work"; buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true' EXIT
python_version="$(chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())')"
# A tar keeps owners, modes and setuid bits exactly (buildah copy would make everything root's).
tar -C "$rootfs" --numeric-owner -cf "$work/rootfs.tar" .
rm -rf "$rootfs"
buildah "${storage[@]}" add "$container" "$work/rootfs.tar" / >/dev/null
buildah "${storage[@]}" config \
  --env PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --env PYTHON_VERSION="$python_version" \
  --label org.opencontainers.image.description="stand-in for $image built by deploy/docker/base-image.sh" \
  --cmd python3 "$container"
# Committed under the name the Dockerfile's FROM resolves to (docker.io/library/...).
name="docker.io/library/${image#docker.io/library/}"
buildah "${storage[@]}" commit --quiet --format docker --rm "$container" "$name" >/dev/null
mkdir -p "$(dirname "$archive")"
buildah "${storage[@]}" push --quiet "$name" "docker-archive:$archive.part:$name" >/dev/null
mv "$archive.part" "$archive"
echo "base image: $name saved to $archive ($(du -h "$archive" | cut -f1))"
