#!/usr/bin/env bash
# Build the docker backend's sandbox image without a container registry: a Debian bookworm
# root made by debootstrap (from the Debian mirror apt already uses), Python 3.11, the CPU
# torch 2.13.0 wheel pip finds on this machine, safetensors and numpy, and our harness
# (sandbox/ only) at /judge. Imported as $IMAGE (default tensorjudge-sandbox:latest).
#
# Production GPU workers build sandbox/Dockerfile instead (CUDA base image, CUDA torch); this
# script exists so the docker backend can be exercised against a real engine on machines that
# reach Debian and PyPI mirrors but no Docker registry (our CI VMs).
#
# Usage: scripts/build-sandbox-image-offline.sh [--force]   (root; needs docker and debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${TENSORJUDGE_SANDBOX_IMAGE:-tensorjudge-sandbox:latest}"
ROOTFS="${TJ_ROOTFS:-/var/lib/tensorjudge/sandbox-rootfs}"
MIRROR="${TJ_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TORCH="${TJ_SANDBOX_TORCH:-torch==2.13.0}"
# The root filesystem is rebuilt when the course environment's package list changes; the image
# is re-imported when that list or the harness (sandbox/, baked in at /judge) changes.
REQS="$(sha256sum sandbox/requirements-course.txt | cut -c1-12)"
KEY="$( (echo "$REQS"; find sandbox -name '*.py' -not -path '*/__pycache__/*' | sort | xargs sha256sum) |
  sha256sum | cut -c1-12)"

if [ "${1:-}" != "--force" ] &&
   [ "$(docker image inspect "$IMAGE" --format '{{index .Config.Labels "tj.key"}}' 2>/dev/null)" = "$KEY" ]; then
  echo "sandbox image $IMAGE already present (--force rebuilds it)"
  exit 0
fi

if [ ! -x "$ROOTFS/opt/venv/bin/python" ] || [ "$(cat "$ROOTFS/.tj-course-reqs" 2>/dev/null)" != "$REQS" ]; then
  rm -rf "$ROOTFS"
  mkdir -p "$ROOTFS"
  echo "debootstrap bookworm into $ROOTFS"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR" >/dev/null

  # pip inside the new root sees this machine's pip configuration, local wheel folders and
  # CA bundle for the duration of the install only.
  mounts=()
  cleanup() {
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
    rm -f "$ROOTFS/etc/pip.conf"
    [ -f "$ROOTFS/etc/ssl/certs/ca-certificates.crt.tj" ] &&
      mv "$ROOTFS/etc/ssl/certs/ca-certificates.crt.tj" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
    return 0
  }
  trap cleanup EXIT
  mount -t proc proc "$ROOTFS/proc" && mounts+=("$ROOTFS/proc")
  for d in $(python3 - <<'EOF'
import configparser, os
values = [os.environ.get(k, "") for k in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL")]
for name in ("/etc/pip.conf", os.path.expanduser("~/.config/pip/pip.conf")):
    conf = configparser.ConfigParser()
    conf.read(name)
    for sec in conf.sections():
        values += [conf.get(sec, k, fallback="") for k in ("find-links", "extra-index-url", "index-url")]
tops = set()
for value in values:
    for item in value.split():
        path = item.removeprefix("file://")
        parts = path.strip("/").split("/")
        if path.startswith("/") and parts[0]:
            top = "/" + "/".join(parts[:2])
            if os.path.isdir(top):
                tops.add(top)
print("\n".join(sorted(tops)))
EOF
  ); do
    mkdir -p "$ROOTFS$d"
    mount --bind "$d" "$ROOTFS$d" && mounts+=("$ROOTFS$d")
  done
  [ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOTFS/etc/pip.conf"
  cp "$ROOTFS/etc/ssl/certs/ca-certificates.crt" "$ROOTFS/etc/ssl/certs/ca-certificates.crt.tj"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  chroot "$ROOTFS" /usr/bin/python3 -m venv /opt/venv
  chroot "$ROOTFS" /opt/venv/bin/pip install -q --no-cache-dir "$TORCH" numpy "safetensors>=0.4" 2>&1 |
    grep -v "is ignored" || true
  cp sandbox/requirements-course.txt "$ROOTFS/tmp/requirements-course.txt"
  chroot "$ROOTFS" /opt/venv/bin/pip install -q --no-cache-dir -r /tmp/requirements-course.txt 2>&1 |
    grep -v "is ignored" || true
  chroot "$ROOTFS" /opt/venv/bin/python -c "import torch, safetensors, numpy, einops, transformers, tqdm"
  echo "$REQS" > "$ROOTFS/.tj-course-reqs"
  cleanup
  trap - EXIT
fi

# The harness only, compiled; nothing secret (no references, settings or credentials).
rm -rf "$ROOTFS/judge"
mkdir -p "$ROOTFS/judge"
cp -r sandbox "$ROOTFS/judge/"
find "$ROOTFS/judge" -name __pycache__ -prune -exec rm -rf {} +
chroot "$ROOTFS" /opt/venv/bin/python -c \
  "import compileall, sys; sys.exit(not compileall.compile_dir('/judge/sandbox', quiet=1))"
chmod -R a+rX "$ROOTFS/judge"

echo "importing $IMAGE"
tar -C "$ROOTFS" --exclude=./proc/* --exclude=./var/cache/apt/* -c . |
  docker import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV PYTHONPATH=/judge' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change 'USER 65534:65534' \
    --change 'WORKDIR /tmp' \
    --change "LABEL tj.key=$KEY" \
    - "$IMAGE" >/dev/null
docker image inspect "$IMAGE" --format '{{.Id}} {{.Size}}'
