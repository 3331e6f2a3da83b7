# shellcheck shell=bash
# Shared by deploy/install-agent and deploy/install-central (sourced, not run).
#
# Environment (all optional):
#   FIREFLY_PACKAGE   what pip installs (default: the source tree this script is in; a wheel
#                     file or "firefly-processes==X.Y" work too)
#   FIREFLY_PIP_ARGS  extra pip arguments, e.g. "--no-index --find-links /media/usb/wheels"
#                     for a station without Internet access
#   FIREFLY_PREFIX    where the virtual environment lives (default /opt/firefly)
#   FIREFLY_USER      the service user (default firefly)
#   FIREFLY_ROOT      stage everything under this directory instead of /: no packages, users,
#                     ownership or services are touched (used by the tests and for packaging)
#   FIREFLY_NO_PIP=1  the virtual environment is ready (an image, the tests): do not run pip

set -euo pipefail

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(dirname "$DEPLOY_DIR")
ROOT=${FIREFLY_ROOT:-}
PREFIX=${FIREFLY_PREFIX:-/opt/firefly}
SERVICE_USER=${FIREFLY_USER:-firefly}
PACKAGE=${FIREFLY_PACKAGE:-$SOURCE_DIR}
VENV=$ROOT$PREFIX/venv
# shellcheck disable=SC2034 # used by the scripts that source this file
ETC=$ROOT/etc/firefly
UNIT_DIR=$ROOT/etc/systemd/system

say() { printf '%s: %s\n' "$(basename "$0")" "$*"; }
die() { say "error: $*" >&2; exit 1; }

staged() { [ -n "$ROOT" ]; }

require_root() {
  if ! staged && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo $0 $*)"
  fi
}

# apt_install PACKAGE... : installs the Debian packages that are missing.
apt_install() {
  staged && return 0
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_user HOME [GROUP...] : the system user running the services, without a login shell.
ensure_user() {
  local home=$1; shift
  staged && return 0
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    say "creating user $SERVICE_USER"
    useradd --system --user-group --home-dir "$home" --no-create-home \
      --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  for group in "$@"; do
    if getent group "$group" >/dev/null && ! id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx "$group"; then
      usermod -aG "$group" "$SERVICE_USER"
    fi
  done
}

# ensure_dir PATH MODE OWNER:GROUP
ensure_dir() {
  install -d -m "$2" "$1"
  staged || chown "$3" "$1"
}

# as_service_user CMD... : run a command as the service user (as is, when staged).
as_service_user() {
  if staged || [ "$(id -un)" = "$SERVICE_USER" ]; then
    "$@"
  else
    runuser -u "$SERVICE_USER" -- "$@"
  fi
}

install_venv() {
  if [ "${FIREFLY_NO_PIP:-0}" = 1 ]; then
    say "FIREFLY_NO_PIP=1: using $VENV as it is"
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment $VENV"
    install -d "$(dirname "$VENV")"
    python3 -m venv "$VENV"
  fi
  say "installing $PACKAGE into $VENV"
  # shellcheck disable=SC2086 # FIREFLY_PIP_ARGS is a list of arguments
  "$VENV/bin/pip" install --quiet --disable-pip-version-check ${FIREFLY_PIP_ARGS:-} \
    --upgrade "$PACKAGE"
}

# install_config EXAMPLE TARGET [SOURCE]: SOURCE (a given file) replaces TARGET, keeping the
# old one as TARGET.bak; without SOURCE an existing TARGET is kept as it is, and a missing
# one is copied from EXAMPLE. Prints "new" when TARGET was created from EXAMPLE.
install_config() {
  local example=$1 target=$2 source=${3:-}
  if [ -n "$source" ]; then
    if [ -f "$target" ] && ! cmp -s "$source" "$target"; then
      cp -p "$target" "$target.bak"
    fi
    install -m 640 "$source" "$target"
  elif [ ! -f "$target" ]; then
    install -m 640 "$example" "$target"
    echo new
  fi
  staged || chown "root:$SERVICE_USER" "$target"
}

# set_toml_value FILE SECTION KEY VALUE: replace `key = ...` in [section] with a string value.
set_toml_value() {
  local file=$1 section=$2 key=$3 value=$4 tmp
  tmp=$(mktemp "$file.XXXXXX")
  awk -v section="[$section]" -v key="$key" -v value="$value" '
    /^\[/ { current = $0 }
    current == section && $0 ~ "^" key "[ \t]*=" { print key " = \"" value "\""; done = 1; next }
    { print }
    END { if (!done) exit 3 }' "$file" > "$tmp" || { rm -f "$tmp"; die "$file: no $key in [$section]"; }
  chmod --reference="$file" "$tmp"
  staged || chown --reference="$file" "$tmp"
  mv "$tmp" "$file"
}

# install_unit NAME: the unit from deploy/systemd, with the prefix of this installation.
install_unit() {
  local name=$1
  install -d "$UNIT_DIR"
  sed "s#/opt/firefly/#$PREFIX/#g" "$DEPLOY_DIR/systemd/$name.service" > "$UNIT_DIR/$name.service"
  chmod 644 "$UNIT_DIR/$name.service"
}

# start_unit NAME: enable it, and restart it so an upgrade takes effect (migrations run then).
start_unit() {
  local name=$1
  staged && return 0
  if [ ! -d /run/systemd/system ]; then
    say "systemd is not running here: start $name yourself"
    return 0
  fi
  systemctl daemon-reload
  systemctl enable --quiet "$name"
  systemctl restart "$name"
  say "$name restarted: journalctl -u $name -f"
}

random_password() {
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'
}
