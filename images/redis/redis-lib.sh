# redis-lib.sh: shell functions shared by the Redis and Sentinel scripts of this image (sourced, not run).
#
# Environment read here: REDIS_PASSWORD_FILE (a mounted Secret file) or REDIS_PASSWORD, REDIS_PORT
# (6379), SENTINEL_PORT (26379), REDIS_MASTER_NAME (mymaster), REDIS_HOSTS and SENTINEL_HOSTS
# (space-separated stable names). Passwords go to redis-cli through REDISCLI_AUTH, never argv.

REDIS_PORT="${REDIS_PORT:-6379}"
SENTINEL_PORT="${SENTINEL_PORT:-26379}"
MASTER_NAME="${REDIS_MASTER_NAME:-mymaster}"
read -r -a REDIS_HOST_LIST <<<"${REDIS_HOSTS:-}"
read -r -a SENTINEL_HOST_LIST <<<"${SENTINEL_HOSTS:-}"
# Where each server records its replication position (redis-health) and the record it started from.
POSITION_FILE=/data/ha-tier-position
START_POSITION_FILE=/data/ha-tier-position.at-start

# log MESSAGE...: one line on stderr, prefixed with the time and the calling script's name.
log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "${0##*/}" "$*" >&2; }

now_ms() { printf '%s' "$((${EPOCHREALTIME/./} / 1000))"; }

# redis_password: prints the password (from the file when mounted).
redis_password() {
  if [[ -n "${REDIS_PASSWORD_FILE:-}" && -r "${REDIS_PASSWORD_FILE}" ]]; then
    printf '%s' "$(<"${REDIS_PASSWORD_FILE}")"
  else
    printf '%s' "${REDIS_PASSWORD:-}"
  fi
}

# conf_quote VALUE: a value quoted for a Redis config file ("..." with \ and " escaped).
conf_quote() {
  local v="${1//\\/\\\\}"
  v="${v//\"/\\\"}"
  printf '"%s"' "${v}"
}

# rcli [-h HOST] ARGS...: an authenticated command on a Redis server (default: this one), raw output
# without carriage returns; fails when the server does not answer within 3 s.
rcli() {
  local host=127.0.0.1
  if [[ "${1:-}" == -h ]]; then host="$2"; shift 2; fi
  REDISCLI_AUTH="$(redis_password)" timeout 3 redis-cli --no-auth-warning -h "${host}" -p "${REDIS_PORT}" --raw "$@" 2>/dev/null | tr -d '\r'
}

# scli HOST ARGS...: a command on a Sentinel (no password), raw output without carriage returns.
scli() {
  local host="$1"; shift
  env -u REDISCLI_AUTH timeout 2 redis-cli -h "${host}" -p "${SENTINEL_PORT}" --raw "$@" 2>/dev/null | tr -d '\r'
}

# info_field NAME INFO: the value of "NAME:value" in an INFO text.
info_field() { sed -n "s/^$1:\(.*\)$/\1/p" <<<"$2"; }

# sentinel_master [EXCEPT]: asks each sentinel (but EXCEPT) for the master; prints "HOST PORT SENTINEL"
# of the first that names one, fails when none does.
sentinel_master() {
  local except="${1:-}" sentinel answer
  local -a addr
  for sentinel in "${SENTINEL_HOST_LIST[@]}"; do
    [[ "${sentinel}" == "${except}" ]] && continue
    answer="$(scli "${sentinel}" SENTINEL get-master-addr-by-name "${MASTER_NAME}")" || continue
    mapfile -t addr <<<"${answer}"
    if [[ ${#addr[@]} -ge 2 && -n "${addr[0]}" && "${addr[1]}" =~ ^[0-9]+$ ]]; then
      printf '%s %s %s\n' "${addr[0]}" "${addr[1]}" "${sentinel}"
      return 0
    fi
  done
  return 1
}

# has_data: whether this server's volume holds a dataset (an AOF directory or an RDB file).
has_data() { [[ -d /data/appendonlydir || -f /data/dump.rdb ]]; }

# record_position: writes this server's replication position to POSITION_FILE (atomically), one line:
#   <unix ms> role=<master|slave> replid=<id> offset=<n> replid2=<id> second_offset=<n> master=<host>
# The status tool compares the records servers started from (START_POSITION_FILE) with the master's,
# to flag a master that started behind a server it then overwrote.
record_position() {
  local info="$1" tmp="${POSITION_FILE}.tmp"
  [[ -n "${info}" ]] || return 0
  printf '%s role=%s replid=%s offset=%s replid2=%s second_offset=%s master=%s\n' "$(now_ms)" \
    "$(info_field role "${info}")" "$(info_field master_replid "${info}")" "$(info_field master_repl_offset "${info}")" \
    "$(info_field master_replid2 "${info}")" "$(info_field second_repl_offset "${info}")" "$(info_field master_host "${info}")" \
    >"${tmp}" 2>/dev/null && mv -f "${tmp}" "${POSITION_FILE}" 2>/dev/null
  return 0
}
