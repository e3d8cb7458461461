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

pg_answers() { node -e '
  const net = require("net"); const s = net.connect(5432, "127.0.0.1");
  s.on("connect", () => process.exit(0)); s.on("error", () => process.exit(1));' 2>/dev/null; }
redis_answers() { node -e '
  const s = require("net").connect(6379, "127.0.0.1");
  s.on("connect", () => s.write("PING\r\n")); s.on("data", d => process.exit(String(d).startsWith("+PONG") ? 0 : 1));
  s.on("error", () => process.exit(1)); setTimeout(() => process.exit(1), 2000);' 2>/dev/null; }

wait_until() { # seconds, command...
  local seconds=$1; shift
  for _ in $(seq 1 $((seconds * 5))); do "$@" && return 0; sleep 0.2; done
  return 1
}

# PostgreSQL and Redis on their standard local ports; started if installed but down.
ensure_services() {
  if ! pg_answers; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      log "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    fi
    wait_until 30 pg_answers || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
  fi
  if ! redis_answers; then
    if command -v redis-server >/dev/null 2>&1; then
      log "starting Redis"
      mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
      redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    fi
    wait_until 30 redis_answers || { echo "Redis does not answer on 127.0.0.1:6379" >&2; exit 1; }
  fi
}
