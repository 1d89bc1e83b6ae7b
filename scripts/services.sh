#!/usr/bin/env bash
# Install (Debian packages) and start PostgreSQL, MariaDB, Redis and RabbitMQ on loopback for the
# `databases` tests; RabbitMQ also listens for AMQP over TLS, with a CA, server and client
# certificate made here (openssl) on first use. Idempotent: servers already running are left alone. Data lives under
# $WIPPY_SERVICES_DIR (default: /var/cache/wippy-services as root, else ~/.cache/wippy-services). Prints the connection settings
# as KEY=VALUE lines on stdout (everything else goes to stderr).
#
#   bash scripts/services.sh          # install if needed, start, print settings
#   bash scripts/services.sh stop     # stop the servers
set -euo pipefail

# the server users (postgres, mysql) must reach it, so root's home is no place for it
if [ "$(id -u)" = 0 ]; then DEFAULT_DIR=/var/cache/wippy-services; else DEFAULT_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/wippy-services"; fi
DIR="${WIPPY_SERVICES_DIR:-$DEFAULT_DIR}"
PG_PORT="${WIPPY_PG_PORT:-55432}"
MY_PORT="${WIPPY_MYSQL_PORT:-53306}"
REDIS_PORT="${WIPPY_REDIS_PORT:-56379}"
AMQP_PORT="${WIPPY_AMQP_PORT:-55672}"
AMQPS_PORT="${WIPPY_AMQPS_PORT:-55671}"
USER_NAME=wippy
PASSWORD=wippy
DB_NAME=wippy

log() { echo "services: $*" >&2; }

as_user() {  # run a command as a system user (servers refuse to run as root)
  local u="$1"; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$u" -- "$@"; else "$@"; fi
}

install_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # keep the packages' own services from starting (we run our own instances)
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
  rm -f /usr/sbin/policy-rc.d
}

start_postgres() {
  local bin; bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  local data="$DIR/postgres" sock="$DIR/run"
  mkdir -p "$DIR" "$sock"
  [ "$(id -u)" = 0 ] && chown postgres "$sock"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres "$data"
    local pw; pw="$(mktemp)"; echo "$PASSWORD" > "$pw"; chmod 644 "$pw"
    as_user postgres "$bin/initdb" -D "$data" -U postgres -A scram-sha-256 --pwfile="$pw" >&2
    rm -f "$pw"
  fi
  if ! as_user postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_user postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $sock -c listen_addresses=127.0.0.1" start >&2
  fi
  PGPASSWORD="$PASSWORD" "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAq >&2 <<SQL
DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME') THEN
    CREATE ROLE $USER_NAME LOGIN PASSWORD '$PASSWORD';
  END IF;
END\$\$;
SELECT 'CREATE DATABASE $DB_NAME OWNER $USER_NAME' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME')\gexec
SQL
}

start_mariadb() {
  local data="$DIR/mariadb" sock="$DIR/run/mysqld.sock"
  mkdir -p "$DIR/run"
  local bin=mariadbd; command -v mariadbd >/dev/null 2>&1 || bin=/usr/sbin/mariadbd
  local user=mysql; [ "$(id -u)" = 0 ] || user="$(id -un)"
  [ "$(id -u)" = 0 ] && chmod 777 "$DIR/run"
  if [ ! -d "$data/mysql" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown "$user" "$data"
    log "initialising MariaDB in $data"
    mariadb-install-db --user="$user" --datadir="$data" --auth-root-authentication-method=normal \
      --skip-test-db >&2
  fi
  if ! mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MY_PORT" -u root ping >/dev/null 2>&1 \
     && ! mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MY_PORT" -u "$USER_NAME" -p"$PASSWORD" ping >/dev/null 2>&1; then
    log "starting MariaDB on 127.0.0.1:$MY_PORT"
    (setsid "$bin" --no-defaults --user="$user" --datadir="$data" --socket="$sock" --port="$MY_PORT" \
      --bind-address=127.0.0.1 --pid-file="$DIR/run/mariadb.pid" --log-error="$data/server.log" \
      --skip-name-resolve </dev/null >/dev/null 2>&1 &)
    for _ in $(seq 1 120); do
      mariadb-admin --protocol=socket -S "$sock" -u root ping >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  mariadb --protocol=socket -S "$sock" -u root >&2 <<SQL || true
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
CREATE USER IF NOT EXISTS '$USER_NAME'@'localhost' IDENTIFIED BY '$PASSWORD';
GRANT ALL ON $DB_NAME.* TO '$USER_NAME'@'127.0.0.1';
GRANT ALL ON $DB_NAME.* TO '$USER_NAME'@'localhost';
FLUSH PRIVILEGES;
SQL
  mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MY_PORT" -u "$USER_NAME" -p"$PASSWORD" ping >/dev/null
}

start_redis() {
  mkdir -p "$DIR/redis"
  if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$DIR/redis" \
      --save "" --appendonly no --pidfile "$DIR/run/redis.pid" --logfile "$DIR/redis/server.log" >&2
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null
}

# RabbitMQ as the rabbitmq user, its own node name, data and ports (AMQP on loopback; Erlang
# distribution on AMQP_PORT+1, since the default of AMQP port + 20000 is out of range)
RABBIT_ENV=(env RABBITMQ_NODENAME=wippy@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$AMQP_PORT"
  RABBITMQ_DIST_PORT=$((AMQP_PORT + 1)) RABBITMQ_MNESIA_BASE="$DIR/rabbitmq/mnesia"
  RABBITMQ_LOG_BASE="$DIR/rabbitmq/log" RABBITMQ_PID_FILE="$DIR/rabbitmq/pid"
  RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/rabbitmq/enabled_plugins" RABBITMQ_CONFIG_FILE="$DIR/rabbitmq/rabbitmq.conf")
TLS_DIR="$DIR/rabbitmq/tls"
TLS_USER=wippy-tls   # the client certificate's common name: the user an EXTERNAL (certificate) login becomes

# a test CA, the broker's certificate (localhost, 127.0.0.1) and a client certificate, each made once
make_tls() {
  mkdir -p "$TLS_DIR"
  [ -f "$TLS_DIR/client.pem" ] && return 0
  log "making the TLS test CA and certificates in $TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=wippy test CA" \
    -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$TLS_DIR/server.ext"
  printf 'extendedKeyUsage=clientAuth\n' > "$TLS_DIR/client.ext"
  local name cn
  for name in server client; do
    cn=localhost; [ "$name" = client ] && cn="$TLS_USER"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$TLS_DIR/$name.key" -out "$TLS_DIR/$name.csr" 2>/dev/null
    openssl x509 -req -in "$TLS_DIR/$name.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" -CAcreateserial \
      -days 3650 -extfile "$TLS_DIR/$name.ext" -out "$TLS_DIR/$name.pem" 2>/dev/null
  done
  chmod 644 "$TLS_DIR"/*.pem "$TLS_DIR"/*.key   # test-only keys: the tests and the broker's user read them
}

rabbit_tls_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$AMQPS_PORT") 2>/dev/null; }

start_rabbitmq() {
  local user=rabbitmq; [ "$(id -u)" = 0 ] || user="$(id -un)"
  mkdir -p "$DIR/rabbitmq/log"
  make_tls
  echo "[rabbitmq_auth_mechanism_ssl]." > "$DIR/rabbitmq/enabled_plugins"
  cat > "$DIR/rabbitmq/rabbitmq.conf" <<CONF
listeners.ssl.1 = 127.0.0.1:$AMQPS_PORT
ssl_options.cacertfile = $TLS_DIR/ca.pem
ssl_options.certfile = $TLS_DIR/server.pem
ssl_options.keyfile = $TLS_DIR/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name
CONF
  [ "$(id -u)" = 0 ] && chown -R "$user" "$DIR/rabbitmq"
  if as_user "$user" "${RABBIT_ENV[@]}" rabbitmq-diagnostics -q ping >/dev/null 2>&1 && ! rabbit_tls_listening; then
    log "restarting RabbitMQ to listen for TLS (started before its TLS settings)"
    as_user "$user" "${RABBIT_ENV[@]}" rabbitmqctl -q stop >&2 || true
  fi
  if ! as_user "$user" "${RABBIT_ENV[@]}" rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    log "starting RabbitMQ on 127.0.0.1:$AMQP_PORT (TLS: $AMQPS_PORT)"
    (as_user "$user" "${RABBIT_ENV[@]}" setsid rabbitmq-server </dev/null >/dev/null 2>&1 &)
    # await_startup fails at once while the Erlang node is up but has not begun booting the
    # rabbit application yet, so poll until the broker reports itself running
    local deadline=$((SECONDS + 120))
    until as_user "$user" "${RABBIT_ENV[@]}" rabbitmq-diagnostics -q check_running >/dev/null 2>&1; do
      if [ $SECONDS -ge $deadline ]; then
        as_user "$user" "${RABBIT_ENV[@]}" rabbitmq-diagnostics check_running >&2 || true
        log "RabbitMQ did not start within 120 s (log: $DIR/rabbitmq/log)"; exit 1
      fi
      sleep 1
    done
  fi
  if ! as_user "$user" "${RABBIT_ENV[@]}" rabbitmqctl -q list_users | grep -q "^$TLS_USER[[:space:]]"; then
    # the password is never used: this user logs in with its certificate (EXTERNAL)
    as_user "$user" "${RABBIT_ENV[@]}" rabbitmqctl -q add_user "$TLS_USER" "$(openssl rand -hex 16)" >&2
    as_user "$user" "${RABBIT_ENV[@]}" rabbitmqctl -q set_permissions -p / "$TLS_USER" ".*" ".*" ".*" >&2
  fi
}

stop_all() {
  local bin; bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$bin" ] && [ -f "$DIR/postgres/PG_VERSION" ] && as_user postgres "$bin/pg_ctl" -D "$DIR/postgres" -m fast stop >&2 || true
  mariadb-admin --protocol=socket -S "$DIR/run/mysqld.sock" -u root shutdown >&2 2>/dev/null || true
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >&2 2>/dev/null || true
  local user=rabbitmq; [ "$(id -u)" = 0 ] || user="$(id -un)"
  as_user "$user" "${RABBIT_ENV[@]}" rabbitmqctl -q stop >&2 2>/dev/null || true
}

if [ "${1:-}" = stop ]; then stop_all; exit 0; fi

install_packages
mkdir -p "$DIR/run"; chmod 755 "$DIR"
start_postgres
start_mariadb
start_redis
start_rabbitmq

cat <<OUT
WIPPY_PG_HOST=127.0.0.1
WIPPY_PG_PORT=$PG_PORT
WIPPY_PG_DATABASE=$DB_NAME
WIPPY_PG_USER=$USER_NAME
WIPPY_PG_PASSWORD=$PASSWORD
WIPPY_MYSQL_HOST=127.0.0.1
WIPPY_MYSQL_PORT=$MY_PORT
WIPPY_MYSQL_DATABASE=$DB_NAME
WIPPY_MYSQL_USER=$USER_NAME
WIPPY_MYSQL_PASSWORD=$PASSWORD
WIPPY_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
WIPPY_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/
WIPPY_AMQPS_URL=amqps://guest:guest@localhost:$AMQPS_PORT/
WIPPY_AMQP_TLS_DIR=$TLS_DIR
OUT
