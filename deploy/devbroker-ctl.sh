#!/usr/bin/env bash
# devbroker-ctl.sh: send fault-injection commands to a running
# stockflow-devbroker through its --control UNIX socket.
#
#   devbroker-ctl.sh SOCKET COMMAND [ARG]...   send one command
#   devbroker-ctl.sh SOCKET < commands.txt      send one command per line
#
# Prints each reply line ("ok ..." or "error: ..."). Exit status: 0 when
# every reply is ok, 1 when any is an error, 2 on usage or connection
# errors. Needs python3 (a meson dependency, so always present here).
set -euo pipefail

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }
if [[ $# -lt 1 ]]; then
  usage >&2
  exit 2
fi
if [[ $1 == -h || $1 == --help ]]; then
  usage
  exit 0
fi

sock=$1
shift
if ! command -v python3 >/dev/null 2>&1; then
  echo "devbroker-ctl.sh: python3 not found (apt-get install python3)" >&2
  exit 2
fi

# The client reads stdin for commands, so the script goes in with -c.
read -r -d '' client <<'PY' || true
import socket, sys

path, words = sys.argv[1], sys.argv[2:]
if words:
    lines = [" ".join(words).encode(errors="surrogateescape")]
else:
    lines = [l.rstrip(b"\r\n") for l in sys.stdin.buffer]
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    f = s.makefile("rwb")
    rc = 0
    for line in lines:
        if not line.strip():
            continue
        f.write(line + b"\n")
        f.flush()
        reply = f.readline().decode(errors="replace").rstrip("\n")
        if not reply:
            raise OSError("connection closed by the broker")
        print(reply, flush=True)
        if not reply.startswith("ok"):
            rc = 1
    sys.exit(rc)
except OSError as e:
    print(f"devbroker-ctl.sh: {path}: {e}", file=sys.stderr)
    sys.exit(2)
PY
exec python3 -c "$client" "$sock" "$@"
