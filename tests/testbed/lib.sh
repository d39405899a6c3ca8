# shellcheck shell=bash
# Shared by the test beds' start.sh and stop.sh scripts (sourced, bash).
# SPEC §10: the servers are started and stopped by pid, never by name, so a
# stop signals only the pid its start.sh wrote, and only if that process is
# still ours.

# running PID: present and not a zombie. A daemon's parent here may be a pid 1
# that never reaps, and a zombie would pass `kill -0` forever.
running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# children PID: the pids whose parent is PID, one a line.
children() {
    local s st ppid w
    for s in /proc/[0-9]*/stat; do
        { read -r st <"$s"; } 2>/dev/null || continue
        st=${st##*) }
        read -r _ ppid _ <<<"$st"
        if [[ $ppid == "$1" ]]; then
            w=${s#/proc/}
            echo "${w%/stat}"
        fi
    done
}

# stop_by_pidfile PIDFILE NAME [--cont] [--cmdline REGEX] [--children]
# Stops the process whose pid PIDFILE holds, if it runs and is still NAME
# (its /proc/PID/comm; with --cmdline, its command line matches REGEX instead,
# NAME then only names it in messages): TERM, up to 10 s to exit, then KILL
# and up to 2 s more. Then removes PIDFILE. Returns 0 when it is gone or
# nothing was running (no pid file, or no pid in it), 1 when it would not
# exit (PIDFILE is kept).
#   --cont      SIGCONT first: a test may have frozen it (SIGSTOP) to play a
#               server that does not answer, and a stopped process does not
#               act on TERM.
#   --children  also wait for the children it has when signalled (a master's
#               workers, which hold the listening socket), and KILL those still
#               NAME with it.
stop_by_pidfile() {
    local pidfile=$1 name=$2 cont=no cmdline="" with_children=no
    shift 2
    while (($#)); do
        case $1 in
        --cont) cont=yes ;;
        --cmdline) cmdline=$2; shift ;;
        --children) with_children=yes ;;
        *) echo "stop_by_pidfile: unknown option $1" >&2; return 2 ;;
        esac
        shift
    done

    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || { rm -f -- "$pidfile"; return 0; }

    ours() { # PID
        if [[ -n $cmdline ]]; then
            tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$cmdline"
        else
            [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$name" ]]
        fi
    }

    # The pid may have been reused since the file was written.
    if running "$pid" && ours "$pid"; then
        local -a kids=()
        local w
        [[ $with_children == yes ]] && mapfile -t kids < <(children "$pid")
        alive() {
            running "$pid" && return 0
            for w in "${kids[@]}"; do running "$w" && return 0; done
            return 1
        }
        [[ $cont == yes ]] && { kill -CONT "$pid" 2>/dev/null || true; }
        kill -TERM "$pid" 2>/dev/null || true
        # It normally exits well within a second; give up waiting after 10 s.
        for _ in $(seq 1 200); do
            alive || break
            sleep 0.05
        done
        if alive; then
            kill -KILL "$pid" 2>/dev/null || true
            for w in "${kids[@]}"; do
                if ours "$w"; then kill -KILL "$w" 2>/dev/null || true; fi
            done
            for _ in $(seq 1 40); do
                alive || break
                sleep 0.05
            done
        fi
        if alive; then
            echo "stop.sh: $name (pid $pid) did not exit" >&2
            return 1
        fi
    fi
    rm -f -- "$pidfile"
}

# The helpers below are for test scripts that start their own processes
# (sourced after they set STOP_TIMEOUT, in seconds).

# cmdline_has PID WORD: PID's command line contains WORD (guards against a
# reused pid).
cmdline_has() {
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$2"* ]]
}

# stop_pid NAME PID [NAME PID...]: TERM to all at once, KILL to any still
# running after STOP_TIMEOUT seconds, then reap them.
stop_pid() {
    local names=() pids=() i p alive
    while (($# >= 2)); do
        if [[ $2 =~ ^[0-9]+$ ]] && running "$2"; then
            names+=("$1") pids+=("$2")
            kill -TERM "$2" 2>/dev/null || true
        fi
        shift 2
    done
    for ((i = 0; i < ${STOP_TIMEOUT:-10} * 20; i++)); do
        alive=0
        for p in "${pids[@]}"; do running "$p" && alive=1 && break; done
        ((alive)) || break
        sleep 0.05
    done
    for i in "${!pids[@]}"; do
        if running "${pids[i]}"; then
            echo "${0##*/}: ${names[i]} (pid ${pids[i]}) ignored SIGTERM; killing it" >&2
            kill -KILL "${pids[i]}" 2>/dev/null || true
        fi
        wait "${pids[i]}" 2>/dev/null || true
    done
}

# pid_from FILE WORD: the pid in FILE, if that process is alive and its
# command line has WORD.
pid_from() {
    local pid=
    [[ -f $1 ]] && read -r pid <"$1" 2>/dev/null || true
    [[ $pid =~ ^[0-9]+$ ]] && running "$pid" && cmdline_has "$pid" "$2" && echo "$pid"
    return 0
}

# The helpers below are for the start.sh scripts (which define die()).

# testbed_dirs "FILE..." DIR DNSDIR: the arguments of a test bed built on
# the DNS test bed, checked. Creates DIR; sets `here` (the calling start.sh's
# directory), `dir` and `dnsdir` (absolute) and TB_NET (the network the DNS
# test bed chose, net.sh). Each FILE (relative to DNSDIR) is something this
# test bed takes from the DNS test bed: it must be there, and not empty.
# shellcheck disable=SC2034 # here, dir, dnsdir, TB_NET: for the caller
testbed_dirs() {
    local needs=$1 f
    shift
    here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
    [[ $# -eq 2 && -n $1 && -n $2 ]] || die "usage: $0 DIR DNSDIR"
    mkdir -p -- "$1"
    dir=$(cd -- "$1" && pwd)
    [[ $dir != / ]] || die "refusing to use / as DIR"
    [[ -d $2 ]] || die "DNSDIR $2 is not a directory (run tests/testbed/dns/start.sh first)"
    dnsdir=$(cd -- "$2" && pwd)
    # shellcheck source=net.sh
    . "$(dirname "${BASH_SOURCE[0]}")/net.sh"
    TB_NET=$(tb_net_of "$dnsdir/..") || die "no test-bed network (start the DNS test bed first)"
    [[ $dnsdir != "$dir" ]] || die "DIR and DNSDIR must differ (start.sh empties DIR)"
    for f in $needs; do
        [[ -s $dnsdir/$f ]] || die "no $dnsdir/$f (run tests/testbed/dns/start.sh first)"
    done
}

# knot_conf_head DIR LISTEN TCP_WORKERS: the server, database and log
# sections of the config of a knotd whose files all live in DIR (the DNS test
# bed's, the DNS benchmark's). Two UDP workers: nothing here needs more, and
# the machine is shared with what is under test.
knot_conf_head() {
    cat <<EOF
server:
    rundir: "$1"
    pidfile: "$1/knotd.pid"
    listen: $2
    udp-workers: 2
    tcp-workers: $3
    background-workers: 1

database:
    storage: "$1/db"
    kasp-db: "$1/db/keys"

log:
  - target: "$1/knotd.log"
    any: info
EOF
}
