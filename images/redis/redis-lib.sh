# redis-lib.sh: shell functions shared by the Redis and Sentinel scripts of this image (sourced, not run).
#
# Environment read here: REDIS_SECRETS_DIR (/etc/ha-tier/secrets: one file per ACL user,
# <user>-password), REDIS_TLS_DIR (/etc/ha-tier/tls: tls.crt, tls.key, ca.crt), REDIS_PORT (6379),
# SENTINEL_PORT (26379), REDIS_MASTER_NAME (mymaster), REDIS_HOSTS and SENTINEL_HOSTS (space-separated
# stable names). Every connection is TLS, verified against the tier's CA. Passwords go to redis-cli
# through REDISCLI_AUTH, never argv, and are never logged.

REDIS_PORT="${REDIS_PORT:-6379}"
SENTINEL_PORT="${SENTINEL_PORT:-26379}"
MASTER_NAME="${REDIS_MASTER_NAME:-mymaster}"
SECRETS_DIR="${REDIS_SECRETS_DIR:-/etc/ha-tier/secrets}"
TLS_DIR="${REDIS_TLS_DIR:-/etc/ha-tier/tls}"
read -r -a REDIS_HOST_LIST <<<"${REDIS_HOSTS:-}"
read -r -a SENTINEL_HOST_LIST <<<"${SENTINEL_HOSTS:-}"
# Where each server records its replication position (redis-health) and the record it started from.
POSITION_FILE=/data/ha-tier-position
# Present while this server, started as a replica, has not yet completed a sync with its master
# (redis-start writes replica-priority 0 then; redis-health restores REDIS_REPLICA_PRIORITY).
PRIORITY_HELD_FILE=/run/redis/priority-held
START_POSITION_FILE=/data/ha-tier-position.at-start

# log MESSAGE...: one line on stderr, prefixed with the time and the calling script's name.
log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "${0##*/}" "$*" >&2; }

now_ms() { printf '%s' "$((${EPOCHREALTIME/./} / 1000))"; }

# password USER: prints the password of ACL user USER (its mounted Secret file); fails when missing.
password() {
  local file="${SECRETS_DIR}/$1-password"
  [[ -r "${file}" ]] || { log "no password file ${file}"; return 1; }
  printf '%s' "$(<"${file}")"
}

# password_hash USER: the SHA-256 of USER's password, as an ACL rule takes it (#<hex>), so that the
# generated configuration holds no clear password where Redis does not need one.
password_hash() {
  local pw; pw="$(password "$1")" || return 1
  printf '#%s' "$(printf '%s' "${pw}" | sha256sum | cut -d' ' -f1)"
}

# conf_quote VALUE: a value quoted for a Redis config file ("..." with \ and " escaped).
conf_quote() {
  local v="${1//\\/\\\\}"
  v="${v//\"/\\\"}"
  printf '"%s"' "${v}"
}

# rcli [-h HOST] ARGS...: a command on a Redis server (default: this one) as the `admin` ACL user
# (RCLI_USER overrides), over TLS; raw output without carriage returns; fails when the server does not
# answer within 3 s.
rcli() {
  local host=127.0.0.1 user="${RCLI_USER:-admin}" auth
  if [[ "${1:-}" == -h ]]; then host="$2"; shift 2; fi
  auth="$(password "${user}")" || return 1
  REDISCLI_AUTH="${auth}" timeout 3 redis-cli --no-auth-warning --tls --cacert "${TLS_DIR}/ca.crt" \
    --user "${user}" -h "${host}" -p "${REDIS_PORT}" --raw "$@" 2>/dev/null | tr -d '\r'
}

# scli HOST ARGS...: a command on a Sentinel as its `sentinel` ACL user (SCLI_USER overrides), over
# TLS; raw output without carriage returns; fails when the Sentinel does not answer within
# SCLI_TIMEOUT seconds (default 2).
scli() {
  local host="$1" user="${SCLI_USER:-sentinel}" auth; shift
  auth="$(password "${user}")" || return 1
  REDISCLI_AUTH="${auth}" timeout "${SCLI_TIMEOUT:-2}" redis-cli --no-auth-warning --tls --cacert "${TLS_DIR}/ca.crt" \
    --user "${user}" -h "${host}" -p "${SENTINEL_PORT}" --raw "$@" 2>/dev/null | tr -d '\r'
}

# acl_users SERVER|SENTINEL: the ACL user lines of a Redis server's or a Sentinel's configuration
# (passwords as hashes). The default user is off: every client names its user.
#   Redis server: admin (this image's scripts: everything), app (data commands; no admin or dangerous
#   command except INFO and ROLE, which clients use to check the master), replication (PSYNC only),
#   sentinel (what Sentinel needs to monitor and reconfigure servers), monitor (PING, INFO, ROLE).
#   Sentinel: sentinel (the sentinels among themselves and the scripts: everything), app (discovery:
#   the master's address, the sentinels, +switch-master), monitor (read-only SENTINEL queries, events).
acl_users() {
  echo "user default off resetpass -@all"
  case "$1" in
    server)
      echo "user admin on $(password_hash admin) ~* &* +@all"
      echo "user app on $(password_hash app) ~* &* +@all -@admin -@dangerous +info +role"
      echo "user replication on $(password_hash replication) -@all +psync +replconf +ping"
      echo "user sentinel on $(password_hash sentinel) allchannels -@all +multi +exec +slaveof +replicaof +ping +subscribe +publish +info +role +config|rewrite +client|setname +client|kill +script|kill"
      echo "user monitor on $(password_hash monitor) -@all +ping +info +role +client|setname"
      ;;
    sentinel)
      echo "user sentinel on $(password_hash sentinel) ~* allchannels +@all"
      echo "user app on $(password_hash app) resetchannels &+switch-master -@all +ping +auth +hello +client|setname +subscribe +unsubscribe +sentinel|get-master-addr-by-name +sentinel|sentinels +sentinel|replicas +sentinel|slaves"
      echo "user monitor on $(password_hash monitor) allchannels -@all +ping +auth +hello +info +client|setname +subscribe +psubscribe +unsubscribe +punsubscribe +sentinel|get-master-addr-by-name +sentinel|master +sentinel|masters +sentinel|replicas +sentinel|slaves +sentinel|sentinels +sentinel|ckquorum"
      ;;
  esac
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
