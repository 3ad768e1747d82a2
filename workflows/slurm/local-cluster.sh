#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for running the suite's SLURM path for real (README "SLURM").
#
#   workflows/slurm/local-cluster.sh start    install (apt) and start munge, MariaDB, slurmdbd, slurmctld, slurmd
#   workflows/slurm/local-cluster.sh stop     stop the daemons this script started (and nothing else)
#   workflows/slurm/local-cluster.sh status   what runs, and sinfo
#   workflows/slurm/local-cluster.sh env      the SLURM_CONF line for a shell: eval "$(... env)"
#
# Runs as root (Debian/Ubuntu with apt-get; no systemd needed). Everything lives in a state directory of its own,
# $BITNET_SLURM_STATE (default /var/lib/bitnet-repro-slurm): slurm.conf and slurmdbd.conf, a munge key and socket,
# a MariaDB data directory on 127.0.0.1:$BITNET_SLURM_DB_PORT (default 3307), pid and log files. SLURM's client
# commands find the config through SLURM_CONF, or through /etc/slurm/slurm.conf, which is made a link to it only
# where no slurm.conf exists (and removed again by stop). It refuses to start beside a SLURM daemon it did not
# start. The node has this machine's CPUs and memory (slurmd -C); partition `local`, account `bitnet`.
set -euo pipefail

STATE=${BITNET_SLURM_STATE:-/var/lib/bitnet-repro-slurm}
DB_PORT=${BITNET_SLURM_DB_PORT:-3307}
CLUSTER=bitnet-local
PARTITION=local
ACCOUNT=bitnet
ETC=$STATE/etc RUN=$STATE/run LOG=$STATE/log
CONF=$ETC/slurm.conf
MUNGE_SOCKET=$STATE/munge-socket/munge.socket
DB_SOCKET=$RUN/mariadb.sock
export SLURM_CONF=$CONF
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)  # stop order; start is the reverse

say() { echo "local-cluster: $*" >&2; }
die() { say "$*"; exit 1; }

pid_of() {  # pid of a daemon this script started, if it is still that program
  local f=$RUN/$1.pid pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc 0-9 <"$f")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # Debian's slurmctld and slurmd are links to slurmctld-wlm and slurmd-wlm: compare the resolved programs
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v "$1" || echo "/usr/sbin/$1")")" ] || return 1
  echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2 end=$((SECONDS + $1)); shift 2
  while [ $SECONDS -lt $end ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$what did not come up within ${limit}s (logs: $LOG)"
}

node_idle() { sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; }

install() {
  local missing=()
  for c in slurmctld:slurm-wlm slurmdbd:slurmdbd munged:munge mariadbd:mariadb-server; do
    command -v "${c%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${c%%:*}" ] || missing+=("${c#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "needs ${missing[*]}: run as root with apt-get"
  say "installing ${missing[*]}"
  apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting (there may be no init system to start them)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

refuse_foreign() {
  local d pid
  for d in slurmctld slurmd slurmdbd; do
    for pid in $(pgrep -x "$d" || true); do
      [ "$pid" = "$(pid_of "$d" || true)" ] || die "a $d this script did not start is running (pid $pid): not touching it"
    done
  done
  if [ -e /etc/slurm/slurm.conf ] && [ "$(readlink -f /etc/slurm/slurm.conf)" != "$CONF" ]; then
    say "/etc/slurm/slurm.conf is someone else's: left alone; use: export SLURM_CONF=$CONF"
  fi
}

write_configs() {
  local node mem
  node=$(slurmd -C | head -n 1)  # NodeName=<host> CPUs=... RealMemory=...
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  [ -f "$STATE/db.pass" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9 >"$STATE/db.pass")
  cat >"$CONF" <<EOF
# Written by workflows/slurm/local-cluster.sh (bitnet-repro): a single-node cluster on this machine.
ClusterName=$CLUSTER
SlurmctldHost=$(hostname -s)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
# no cgroup hierarchy is assumed (containers, VMs without systemd): processes are tracked by parent pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
KillWait=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# with munge on a socket of its own, the connection to slurmdbd is authenticated through this one
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageEnforce=associations,limits,qos
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
$node State=UNKNOWN
PartitionName=$PARTITION Nodes=$(hostname -s) Default=YES MaxTime=INFINITE DefaultTime=60 State=UP
EOF
  (umask 077; cat >"$ETC/slurmdbd.conf" <<EOF
# Written by workflows/slurm/local-cluster.sh (bitnet-repro)
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
SlurmUser=root
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$STATE/db.pass")
StorageLoc=slurm_acct_db
EOF
  )
  say "node: $node"
  [ "$mem" -gt 0 ] || die "slurmd -C gave no memory"
}

start_munge() {
  running munged && return
  mkdir -p "$STATE/munge" "$STATE/munge-socket"  # key: 700; socket directory: 755 (munged checks both)
  [ -f "$STATE/munge/munge.key" ] || mungekey --create --keyfile="$STATE/munge/munge.key" >/dev/null
  chown -R munge:munge "$STATE/munge"
  chown munge:munge "$STATE/munge-socket"
  chmod 700 "$STATE/munge"
  chmod 755 "$STATE/munge-socket"
  chmod 600 "$STATE/munge/munge.key"
  touch "$RUN/munged.pid" "$LOG/munged.log"
  chown munge:munge "$RUN/munged.pid" "$LOG/munged.log"
  runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$STATE/munge/munge.key" \
    --pid-file="$RUN/munged.pid" --log-file="$LOG/munged.log" --seed-file="$STATE/munge/munged.seed" \
    </dev/null >>"$LOG/munged.log" 2>&1 || die "munged did not start: $LOG/munged.log"
  wait_for 20 munged sh -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'"
}

sql() { mariadb --socket="$DB_SOCKET" -u root -e "$1"; }

start_mariadb() {
  running mariadbd && return
  if [ ! -d "$STATE/mysql/mysql" ]; then
    mkdir -p "$STATE/mysql"
    chown mysql:mysql "$STATE/mysql"
    mariadb-install-db --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
      >>"$LOG/mariadb.log" 2>&1
  fi
  chown mysql:mysql "$RUN"
  setsid mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" --socket="$DB_SOCKET" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --pid-file="$RUN/mariadbd.pid" --log-error="$LOG/mariadb.log" \
    --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 </dev/null >>"$LOG/mariadb.log" 2>&1 &
  wait_for 60 MariaDB sql "select 1"
  chown root:root "$RUN"
  local pass; pass=$(cat "$STATE/db.pass")
  sql "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
       ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
       GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
}

start_slurmdbd() {
  running slurmdbd && return
  slurmdbd </dev/null >>"$LOG/slurmdbd.log" 2>&1 || die "slurmdbd did not start: $LOG/slurmdbd.log"
  wait_for 60 slurmdbd sacctmgr -n show cluster
}

setup_accounts() {
  sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
  sacctmgr -n -P show account format=account | grep -qx "$ACCOUNT" ||
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="bitnet-repro jobs" Organization=local >/dev/null
  local u
  for u in root ${SUDO_USER:-}; do
    sacctmgr -n -P show assoc where user="$u" account="$ACCOUNT" format=user | grep -qx "$u" ||
      sacctmgr -i add user "$u" Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null
  done
}

start_slurm() {
  if ! running slurmctld; then
    slurmctld </dev/null >>"$LOG/slurmctld.log" 2>&1 || die "slurmctld did not start: $LOG/slurmctld.log"
    wait_for 60 slurmctld scontrol ping
  fi
  if ! running slurmd; then
    slurmd </dev/null >>"$LOG/slurmd.log" 2>&1 || die "slurmd did not start: $LOG/slurmd.log"
  fi
  wait_for 90 "the node (sinfo: idle)" node_idle
}

link_etc() {
  if [ ! -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    mkdir -p /etc/slurm
    ln -s "$CONF" /etc/slurm/slurm.conf
    echo /etc/slurm/slurm.conf >"$STATE/linked"
  fi
}

all_running() { for d in "${DAEMONS[@]}"; do running "$d" || return 1; done; }

start() {
  [ "$(id -u)" = 0 ] || die "run as root (the daemons run as root, munge and MariaDB as their own users)"
  if all_running && node_idle; then
    say "already running (state: $STATE)"
    return
  fi
  install
  refuse_foreign
  mkdir -p "$ETC" "$RUN" "$LOG" "$STATE/slurmctld" "$STATE/slurmd"
  chmod 755 "$STATE"
  write_configs
  start_munge
  start_mariadb
  start_slurmdbd
  setup_accounts
  start_slurm
  link_etc
  say "up: partition $PARTITION, account $ACCOUNT, cluster $CLUSTER (SLURM_CONF=$CONF)"
  sinfo
}

stop() {
  local d pid
  for d in "${DAEMONS[@]}"; do
    pid=$(pid_of "$d") || continue
    say "stopping $d ($pid)"
    kill "$pid"
    for _ in $(seq 60); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    if [ -d "/proc/$pid" ]; then say "$d ($pid) did not stop in 30s: SIGKILL"; kill -9 "$pid"; fi
    rm -f "$RUN/$d.pid"
  done
  if [ -f "$STATE/linked" ] && [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$CONF" ]; then
    rm -f /etc/slurm/slurm.conf "$STATE/linked"
  fi
  say "stopped (state kept in $STATE: accounting database, logs)"
}

status() {
  local d rc=0
  for d in "${DAEMONS[@]}"; do
    if pid=$(pid_of "$d"); then echo "$d: running ($pid)"; else echo "$d: not running"; rc=3; fi
  done
  [ $rc = 0 ] && sinfo
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
