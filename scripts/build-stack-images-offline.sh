#!/usr/bin/env bash
# Build the compose stack's image without a container registry: tensorjudge:latest, one image
# for api, worker-cpu, worker-gpu and (with docker-compose.offline.yml) postgres and redis.
#
#   base  tensorjudge-stack-base:latest  the sandbox image's debootstrap root (Debian bookworm,
#         Python 3.11, CPU torch 2.13.0, the course packages), copied, plus Debian's
#         postgresql, redis-server and curl, plus the project's PyPI dependencies. Rebuilt only
#         when the project's dependency list, the course requirements or this stage change.
#   app   tensorjudge:latest  the base plus this working tree's code at /app
#         (scripts/offline-app.Dockerfile, a plain `docker build` that needs no network), plus
#         pyproject's `monitoring` extra (Flower) from wheels this machine's pip fetches.
#         Rebuilt when the code, the problems, the migrations or pyproject.toml change.
#
# Each stage carries a content key (label tj.key): a second run with nothing changed only
# compares keys. The sandbox image the workers start is built first
# (scripts/build-sandbox-image-offline.sh, itself keyed). Production machines that reach a
# registry build the repository's Dockerfile instead (docs/deploy.md).
#
# Usage: scripts/build-stack-images-offline.sh [--force]   (root; needs docker and debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${TJ_STACK_IMAGE:-tensorjudge:latest}"
BASE="${TJ_STACK_BASE_IMAGE:-tensorjudge-stack-base:latest}"
SANDBOX_ROOT="${TJ_ROOTFS:-/var/lib/tensorjudge/sandbox-rootfs}"
ROOTFS="${TJ_STACK_ROOTFS:-/var/lib/tensorjudge/stack-rootfs}"
APT_PACKAGES="postgresql redis-server curl"
BASE_REV=2  # bump when the base stage below changes in a way its inputs do not show
export DOCKER_BUILDKIT=0  # the classic builder: no buildx component needed
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

label() { docker image inspect "$1" --format '{{index .Config.Labels "tj.key"}}' 2>/dev/null || true; }

# The sandbox image (and its root filesystem, which the base starts from).
if [ ! -x "$SANDBOX_ROOT/opt/venv/bin/python" ]; then
  bash scripts/build-sandbox-image-offline.sh --force
else
  bash scripts/build-sandbox-image-offline.sh
fi

# The project's runtime dependencies, one requirement a line, from pyproject.toml.
deps="$(python3 - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(sorted(tomllib.load(f)["project"]["dependencies"])))
EOF
)"
BASE_KEY="$( (echo "$BASE_REV $APT_PACKAGES"; echo "$deps"; cat "$SANDBOX_ROOT/.tj-course-reqs") |
  sha256sum | cut -c1-12)"

if [ "$FORCE" = 1 ] || [ "$(label "$BASE")" != "$BASE_KEY" ]; then
  echo "stack base: building $BASE (key $BASE_KEY) from $SANDBOX_ROOT"
  old_base="$(docker image inspect "$BASE" --format '{{.Id}}' 2>/dev/null || true)"
  rm -rf "$ROOTFS"
  cp -a "$SANDBOX_ROOT" "$ROOTFS"
  rm -rf "$ROOTFS/judge" "$ROOTFS/.tj-course-reqs"

  mounts=()
  cleanup() {
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[$i]}" 2>/dev/null || true; done
    rm -f "$ROOTFS/usr/sbin/policy-rc.d" "$ROOTFS/etc/pip.conf" "$ROOTFS/tmp/requirements-app.txt"
    return 0
  }
  trap cleanup EXIT
  mount -t proc proc "$ROOTFS/proc" && mounts+=("$ROOTFS/proc")
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"

  # Debian packages; no service is started and no cluster created while installing.
  printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
  chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
  mkdir -p "$ROOTFS/etc/postgresql-common/createcluster.d"
  echo "create_main_cluster = false" >"$ROOTFS/etc/postgresql-common/createcluster.d/tj.conf"
  chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
  chroot "$ROOTFS" apt-get clean
  # No key pair shared by every image: ssl-cert made a snakeoil one, which nothing here uses.
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/etc/ssl/private/ssl-cert-snakeoil.key \
    "$ROOTFS"/etc/ssl/certs/ssl-cert-snakeoil.pem

  # PyPI packages, through this machine's pip sources (local wheel folders and indexes are
  # bind-mounted at the same path for the install only).
  pipconf="$(python3 - <<'EOF'
import configparser, os
keys = {"find-links": [], "extra-index-url": [], "index-url": []}
for key in keys:
    env = os.environ.get("PIP_" + key.upper().replace("-", "_"), "")
    keys[key] += env.split()
for name in ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", os.path.expanduser("~/.pip/pip.conf"),
             os.path.expanduser("~/.config/pip/pip.conf")):
    conf = configparser.ConfigParser()
    conf.read(name)
    for section in ("global", "install"):
        for key in keys:
            keys[key] += conf.get(section, key, fallback="").split()
print("[global]")
for key, values in keys.items():
    if key == "index-url":
        values = values[:1]
    if values:
        print(f"{key} = {' '.join(dict.fromkeys(values))}")
EOF
)"
  echo "$pipconf" >"$ROOTFS/etc/pip.conf"
  for dir in $(echo "$pipconf" | grep -oE '(file://)?/[^ ]+' | sed 's#^file://##'); do
    top="/$(echo "$dir" | cut -d/ -f2-3)"
    [ -d "$top" ] || continue
    mountpoint -q "$ROOTFS$top" && continue
    mkdir -p "$ROOTFS$top"
    mount --bind "$top" "$ROOTFS$top" && mounts+=("$ROOTFS$top")
  done
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  echo "$deps" >"$ROOTFS/tmp/requirements-app.txt"
  # (pip warns about every local index entry it skips: shown only when the install fails)
  if ! out="$(chroot "$ROOTFS" env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
      /opt/venv/bin/pip install -q --no-cache-dir -r /tmp/requirements-app.txt 2>&1)"; then
    echo "$out" | grep -v "is ignored" >&2
    exit 1
  fi
  chroot "$ROOTFS" /opt/venv/bin/python -c \
    "import torch, fastapi, celery, sqlalchemy, psycopg, docker, redis, uvicorn; assert torch.__version__.startswith('2.13.0')"
  cleanup
  trap - EXIT

  echo "stack base: importing $BASE"
  tar -C "$ROOTFS" --exclude=./proc/* --exclude=./var/cache/apt/* -c . |
    docker import \
      --change 'ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
      --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
      --change 'ENV PYTHONUNBUFFERED=1' \
      --change "LABEL tj.key=$BASE_KEY" \
      - "$BASE" >/dev/null
  # The previous base is no longer needed (kept if a container still uses it).
  new_base="$(docker image inspect "$BASE" --format '{{.Id}}')"
  if [ -n "$old_base" ] && [ "$old_base" != "$new_base" ]; then
    docker image rm "$old_base" >/dev/null 2>&1 || true
  fi
  # The copy is only an input of the import: free its disk.
  rm -rf "$ROOTFS"
else
  echo "stack base: $BASE already present (key $BASE_KEY)"
fi

# The app layer: what `COPY` in scripts/offline-app.Dockerfile takes (.dockerignore applies).
APP_KEY="$( (echo "$BASE_KEY"; find core api worker sandbox cli alembic problems -type f \
    -not -path '*/__pycache__/*' -not -name '*.pyc' | sort | xargs sha256sum;
  sha256sum pyproject.toml alembic.ini README.md scripts/offline-app.Dockerfile \
    scripts/stack-postgres.sh .dockerignore) | sha256sum | cut -c1-12)"
if [ "$FORCE" = 0 ] && [ "$(label "$IMAGE")" = "$APP_KEY" ]; then
  echo "stack image: $IMAGE already present (key $APP_KEY; --force rebuilds it)"
  exit 0
fi
echo "stack image: building $IMAGE (key $APP_KEY)"
old_app="$(docker image inspect "$IMAGE" --format '{{.Id}}' 2>/dev/null || true)"
# The optional extras the image carries as well (pyproject's `monitoring`: Flower, for the
# compose service of that profile). Their wheels are fetched by this machine's pip into a
# folder that is the context of a one-layer build on top of the app: the builds stay offline.
extras="$(python3 - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    print(" ".join(tomllib.load(f)["project"].get("optional-dependencies", {}).get("monitoring", [])))
EOF
)"
tag_app=(-t "$IMAGE")
[ -n "$extras" ] && tag_app=()
if ! out="$(docker build -q -f scripts/offline-app.Dockerfile --build-arg "BASE=$BASE" \
    --label "tj.key=$APP_KEY" "${tag_app[@]}" . 2>&1)"; then
  echo "$out" >&2
  exit 1
fi
if [ -n "$extras" ]; then
  app_id="$(echo "$out" | tail -n 1)"
  wheels="$(mktemp -d)"
  trap 'rm -rf "$wheels"' EXIT
  # shellcheck disable=SC2086
  if ! got="$(python3 -m pip download -q --no-cache-dir --only-binary=:all: --python-version 3.11 \
      --implementation cp --platform manylinux_2_28_x86_64 -d "$wheels" $extras 2>&1)"; then
    echo "$got" | grep -v "is ignored" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  if ! out="$(printf 'FROM %s\nCOPY . /tmp/wheels\nRUN pip install -q --no-index --find-links /tmp/wheels %s && rm -rf /tmp/wheels\n' \
      "$app_id" "$extras" | docker build -q --label "tj.key=$APP_KEY" -t "$IMAGE" -f - "$wheels" 2>&1)"; then
    echo "$out" >&2
    exit 1
  fi
  rm -rf "$wheels"
  trap - EXIT
  echo "stack image: with $extras"
fi
new_app="$(docker image inspect "$IMAGE" --format '{{.Id}}')"
if [ -n "$old_app" ] && [ "$old_app" != "$new_app" ]; then
  docker image rm "$old_app" >/dev/null 2>&1 || true
fi
docker image inspect "$IMAGE" --format '{{.Id}} {{.Size}}'
