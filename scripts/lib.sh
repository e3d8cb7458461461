# Shared by scripts/start and scripts/test: make a fresh machine ready, idempotently.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PNPM_VERSION="10.34.9"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# pnpm from npm (corepack's signature check cannot be relied on).
ensure_pnpm() {
  if ! command -v pnpm >/dev/null 2>&1; then
    log "installing pnpm@${PNPM_VERSION} with npm"
    npm install -g "pnpm@${PNPM_VERSION}" >/dev/null
  fi
}

ensure_deps() {
  cd "$REPO_ROOT"
  if [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
    log "installing dependencies"
    pnpm install --frozen-lockfile
  fi
}

# The ports checked; only a test of this file points them elsewhere.
PG_PORT="${LOCAL_PG_PORT:-5432}"
REDIS_PORT="${LOCAL_REDIS_PORT:-6379}"

pg_answers() { node -e '
  const net = require("net"); const s = net.connect('"$PG_PORT"', "127.0.0.1");
  s.on("connect", () => process.exit(0)); s.on("error", () => process.exit(1));' 2>/dev/null; }
redis_answers() { node -e '
  const s = require("net").connect('"$REDIS_PORT"', "127.0.0.1");
  s.on("connect", () => s.write("PING\r\n")); s.on("data", d => process.exit(String(d).startsWith("+PONG") ? 0 : 1));
  s.on("error", () => process.exit(1)); setTimeout(() => process.exit(1), 2000);' 2>/dev/null; }

wait_until() { # seconds, command...
  local seconds=$1; shift
  for _ in $(seq 1 $((seconds * 5))); do "$@" && return 0; sleep 0.2; done
  return 1
}

is_debian_like() {
  [ -r /etc/os-release ] && grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release
}
pg_installed() { command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; }

# A fresh Debian/Ubuntu machine, as root: install both from the distribution. The new
# cluster trusts the postgres user on loopback (the tests connect as postgres without a
# password); an existing installation is never reconfigured.
install_services() {
  log "installing PostgreSQL and Redis with apt-get"
  local fresh_pg=0
  pg_installed || fresh_pg=1
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql redis-server >/dev/null
  if [ "$fresh_pg" = 1 ]; then
    local hba
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      log "trusting the postgres user on 127.0.0.1 and ::1 in $hba (a development machine)"
      sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
    done
  fi
}

# Says what to do when PostgreSQL or Redis is missing and cannot be installed here.
explain_missing_services() {
  {
    echo
    echo "PostgreSQL 15+ and Redis 7+ must answer on 127.0.0.1:5432 and 127.0.0.1:6379"
    echo "(user postgres, trust auth). This script installs them itself only as root on"
    echo "Debian or Ubuntu. Otherwise, either:"
    echo "  - install them: sudo apt-get install postgresql redis-server (and trust the"
    echo "    postgres user on 127.0.0.1 in pg_hba.conf), or your system's equivalent;"
    if command -v docker >/dev/null 2>&1; then
      echo "  - run them with Docker:"
      echo "      docker run -d --name scheduler-pg -p 127.0.0.1:5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15"
      echo "      docker run -d --name scheduler-redis -p 127.0.0.1:6379:6379 redis:7"
      echo "  - or run the whole service in containers instead: docker compose up -d"
      echo "    (set the secrets in .env first; docs/deploy.md)."
    fi
  } >&2
}

# PostgreSQL and Redis on their standard local ports: started if installed but down,
# installed first where that can be done (root on Debian/Ubuntu), else a message
# saying how to get them.
ensure_services() {
  if ! pg_answers || ! redis_answers; then
    if { ! pg_installed || ! command -v redis-server >/dev/null 2>&1; } \
      && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && is_debian_like; then
      install_services
    fi
  fi
  if ! pg_answers; then
    if pg_installed; then
      log "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    fi
    { pg_installed && wait_until 30 pg_answers; } || {
      echo "PostgreSQL does not answer on 127.0.0.1:$PG_PORT" >&2
      explain_missing_services
      exit 1
    }
  fi
  if ! redis_answers; then
    if command -v redis-server >/dev/null 2>&1; then
      log "starting Redis"
      mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
      redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    fi
    { command -v redis-server >/dev/null 2>&1 && wait_until 30 redis_answers; } || {
      echo "Redis does not answer on 127.0.0.1:$REDIS_PORT" >&2
      explain_missing_services
      exit 1
    }
  fi
}
