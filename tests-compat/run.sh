#!/usr/bin/env bash
# Compatibility test: two real third-party DeepStack clients against `osprey serve`.
#
#   * Frigate NVR's DeepStack detector plugin (frigate/detectors/plugins/deepstack.py),
#     read from a Frigate checkout or git dir given in FRIGATE_SRC and imported at run
#     time (tests-compat/frigate_shim.py says what is shimmed around it and why);
#   * deepstack-python from PyPI (`import deepstack.core`), the library the Home Assistant
#     integration robmarkcole/HASS-Deepstack-object uses (it pins deepstack-python==0.8).
#
# Neither client's code is in this repository: both are loaded from where they live.
#
# Cases, all on 127.0.0.1 with a server started here with --auth on:
#   A  no key exists: the DeepStack route is open; both clients get the bus.jpg detections.
#   B  after `osprey keys create frigate --role detect`: clients with that key get
#      detections; no key or a wrong key gets HTTP 401 with a JSON {"success":false,...}
#      body. B runs on the server that was already running (key made while it runs),
#      then again after a restart (key read back from the auth database).
#
# Environment:
#   OSPREY_BIN      default <repo>/target/release/osprey
#   OSPREY_SHARED   default /work/shared (models/yolo11n-320.onnx, images/bus.jpg,
#                   reference/yolo11n-320.json)
#   ORT_DYLIB_PATH  default <repo>/runtime/onnxruntime/lib/libonnxruntime.so
#   FRIGATE_SRC     Frigate work tree, or a git dir (bare/mirror) read at FRIGATE_REF
#                   (default HEAD); unset: the Frigate part is skipped, loudly.
#   DEEPSTACK_PYTHON_VERSION  default 0.8 (what HASS-Deepstack-object pins)
#   COMPAT_VENV     Python venv, reused while its requirements match
#                   (default <repo>/target/compat-venv)
#   PYTHON          interpreter that makes the venv (default python3)
#   KEEP_TMP=1      keep the temp dir (server logs, databases)
#
# `run.sh --stub` runs the same clients against tests-compat/stub_server.py instead of
# Osprey (no binary or model needed): a dry check of this harness only.
#
# Ends with "N passed, N failed" on its own line; exits non-zero on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
OSPREY_BIN=${OSPREY_BIN:-$REPO/target/release/osprey}
OSPREY_SHARED=${OSPREY_SHARED:-/work/shared}
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$REPO/runtime/onnxruntime/lib/libonnxruntime.so}
FRIGATE_SRC=${FRIGATE_SRC:-}
FRIGATE_REF=${FRIGATE_REF:-HEAD}
DEEPSTACK_PYTHON_VERSION=${DEEPSTACK_PYTHON_VERSION:-0.8}
COMPAT_VENV=${COMPAT_VENV:-$REPO/target/compat-venv}
PYTHON=${PYTHON:-python3}
MODE=osprey
if [[ ${1:-} == --stub ]]; then MODE=stub; fi

MODEL=$OSPREY_SHARED/models/yolo11n-320.onnx
IMAGE=$OSPREY_SHARED/images/bus.jpg
REFERENCE=$OSPREY_SHARED/reference/yolo11n-320.json
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 NO_PROXY=127.0.0.1,localhost

PASS=0
FAIL=0
SKIP=0
pass() { PASS=$((PASS + 1)); echo "PASS $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }

finish() {
  echo
  if ((SKIP > 0)); then
    echo "$PASS passed, $FAIL failed, $SKIP skipped"
  else
    echo "$PASS passed, $FAIL failed"
  fi
  if ((FAIL > 0 || PASS == 0)); then exit 1; fi
  exit 0
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/osprey-compat.XXXXXX")
SERVER_PID=""
PORT=""
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== Osprey DeepStack client compatibility ($MODE)"

# ---------------------------------------------------------------- prerequisites
need_file() { if [[ -f $2 ]]; then return 0; fi; fail "$1 missing: $2"; return 1; }
ok=1
need_file "image" "$IMAGE" || ok=0
if [[ $MODE == osprey ]]; then
  if [[ -x $OSPREY_BIN ]]; then :; else fail "OSPREY_BIN not executable: $OSPREY_BIN"; ok=0; fi
  need_file "model" "$MODEL" || ok=0
  need_file "ONNX Runtime (ORT_DYLIB_PATH)" "$ORT_DYLIB_PATH" || ok=0
else
  need_file "reference (the stub serves it)" "$REFERENCE" || ok=0
fi
((ok)) || finish
[[ -f $REFERENCE ]] || { echo "NOTE: no $REFERENCE; expecting 3 persons + 1 bus"; REFERENCE=""; }

if [[ $MODE == osprey ]]; then
  help=$(timeout 30 "$OSPREY_BIN" serve --help 2>&1 || true)
  if grep -q -- '--auth-db' <<<"$help" && grep -q -- '--auth ' <<<"$help"; then
    pass "osprey serve --help offers --auth and --auth-db"
  else
    fail "osprey serve --help does not offer --auth/--auth-db ($OSPREY_BIN predates authentication?)"
    finish
  fi
fi

# ---------------------------------------------------------------- Python venv
numpy_req='numpy==1.26.*' # Frigate's pin; it has no wheels past Python 3.12
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info >= (3, 13))'; then numpy_req='numpy<3'; fi
REQS="deepstack-python==$DEEPSTACK_PYTHON_VERSION requests==2.32.* $numpy_req pydantic==2.10.* Pillow"
PY=$COMPAT_VENV/bin/python
if [[ -x $PY && -f $COMPAT_VENV/.compat-reqs && $(cat "$COMPAT_VENV/.compat-reqs") == "$REQS" ]] &&
  "$PY" -c 'import deepstack.core, numpy, pydantic, PIL, requests' 2>/dev/null; then
  echo "venv: reusing $COMPAT_VENV"
else
  echo "venv: creating $COMPAT_VENV ($REQS)"
  rm -rf "$COMPAT_VENV"
  mkdir -p "$(dirname "$COMPAT_VENV")"
  # shellcheck disable=SC2086 # REQS is a word list
  if "$PYTHON" -m venv "$COMPAT_VENV" &&
    timeout 900 "$PY" -m pip install -q $REQS >"$TMP/pip.log" 2>&1; then
    echo "$REQS" >"$COMPAT_VENV/.compat-reqs"
  else
    cat "$TMP/pip.log" 2>/dev/null || true
    fail "Python venv with deepstack-python could not be installed"
    finish
  fi
fi
"$PY" - <<'EOF'
from importlib.metadata import version
print("clients: deepstack-python", version("deepstack-python"), "| requests", version("requests"),
      "| numpy", version("numpy"), "| pydantic", version("pydantic"), "| Pillow", version("Pillow"))
EOF

# ---------------------------------------------------------------- Frigate source
FRIGATE_DIR=""
if [[ -z $FRIGATE_SRC ]]; then
  SKIP=$((SKIP + 1))
  echo "**************************************************************"
  echo "*** SKIPPED Frigate plugin: FRIGATE_SRC not set"
  echo "**************************************************************"
elif [[ -f $FRIGATE_SRC/frigate/detectors/plugins/deepstack.py ]]; then
  FRIGATE_DIR=$FRIGATE_SRC
  commit=$(git -C "$FRIGATE_SRC" rev-parse HEAD 2>/dev/null || echo "unknown (not a git work tree)")
  echo "Frigate: work tree $FRIGATE_SRC, commit $commit"
elif commit=$(git --git-dir="$FRIGATE_SRC" rev-parse --verify -q "$FRIGATE_REF^{commit}" 2>/dev/null); then
  FRIGATE_DIR=$TMP/frigate-src
  for f in frigate/detectors/plugins/deepstack.py frigate/detectors/detection_api.py labelmap.txt; do
    mkdir -p "$FRIGATE_DIR/$(dirname "$f")"
    git --git-dir="$FRIGATE_SRC" show "$commit:$f" >"$FRIGATE_DIR/$f"
  done
  echo "Frigate: git dir $FRIGATE_SRC, commit $commit ($(git --git-dir="$FRIGATE_SRC" log -1 --format=%ci "$commit"))"
else
  fail "FRIGATE_SRC is neither a Frigate work tree nor a git dir with $FRIGATE_REF: $FRIGATE_SRC"
fi

# ---------------------------------------------------------------- server
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() { # $1: name for the log file
  local log=$TMP/server-$1.log try code
  for try in 1 2 3; do
    PORT=$(free_port)
    if [[ $MODE == osprey ]]; then
      (cd "$TMP" && exec "$OSPREY_BIN" serve --model "$MODEL" --listen "127.0.0.1:$PORT" \
        --auth on --auth-db "$TMP/auth.sqlite" --events-db "$TMP/events.sqlite") >"$log" 2>&1 &
    else
      "$PY" "$HERE/stub_server.py" --port "$PORT" --reference "$REFERENCE" \
        --keys-file "$TMP/stub-keys" >"$log" 2>&1 &
    fi
    SERVER_PID=$!
    for _ in $(seq 240); do # 60 s
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/readyz" || true)
      if [[ $code == 200 ]]; then
        pass "server ($1) ready on 127.0.0.1:$PORT (GET /readyz 200)"
        return 0
      fi
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then break; fi # alive but never ready: no retry
    if ! grep -qi 'address.*in use' "$log"; then break; fi
    echo "port $PORT was taken; retrying"
  done
  echo "--- server log ($1), last lines:"
  tail -n 30 "$log" || true
  stop_server
  fail "server ($1) did not become ready (GET /readyz last answered ${code:-nothing})"
  return 1
}

run_clients() { # $1: phase, $2: label, [$3: key]
  local res=$TMP/results-$RANDOM args
  args=(--url "http://127.0.0.1:$PORT" --phase "$1" --label "$2" --image "$IMAGE" --results "$res")
  [[ -n $REFERENCE ]] && args+=(--reference "$REFERENCE")
  [[ -n $FRIGATE_DIR ]] && args+=(--frigate-src "$FRIGATE_DIR")
  [[ -n ${3:-} ]] && args+=(--key "$3")
  local rc=0
  timeout 300 "$PY" "$HERE/compat_clients.py" "${args[@]}" || rc=$?
  if [[ -f $res ]]; then
    read -r p f <"$res"
    PASS=$((PASS + p))
    FAIL=$((FAIL + f))
  fi
  if ((rc != 0)) || [[ ! -f $res ]]; then fail "$2client run ended abnormally (exit $rc)"; fi
}

create_key() {
  if [[ $MODE == stub ]]; then
    KEY="stub-$RANDOM$RANDOM"
    echo "$KEY" >"$TMP/stub-keys"
    return 0
  fi
  local rc=0
  timeout 30 "$OSPREY_BIN" keys create frigate --role detect --auth-db "$TMP/auth.sqlite" \
    >"$TMP/key.out" 2>"$TMP/key.err" || rc=$?
  echo "--- osprey keys create frigate --role detect: exit $rc; stderr:"
  sed 's/^/    /' "$TMP/key.err"
  echo "    stdout: $(wc -l <"$TMP/key.out") line(s), $(tr -d '\n' <"$TMP/key.out" | wc -c) chars"
  if ((rc != 0)); then
    fail "osprey keys create exited $rc"
    return 1
  fi
  # The contract: the key is printed on stdout. Take the whole of stdout when it is one
  # token; otherwise note the extra text and take the longest key-like token.
  KEY=$(tr -d '\r' <"$TMP/key.out" | sed '/^[[:space:]]*$/d')
  if [[ $(wc -l <<<"$KEY") -ne 1 || $KEY =~ [[:space:]] ]]; then
    echo "NOTE: keys create printed more than the key on stdout:"
    sed 's/^/    /' "$TMP/key.out"
    KEY=$(grep -oE '[A-Za-z0-9_.~+/=-]{16,}' "$TMP/key.out" | awk '{print length, $0}' | sort -rn | head -1 | cut -d' ' -f2- || true)
  fi
  if [[ -n $KEY ]]; then
    pass "osprey keys create printed a key (${#KEY} chars, ${KEY:0:6}...)"
  else
    fail "osprey keys create printed no key on stdout"
    return 1
  fi
}

# ---------------------------------------------------------------- case A
echo
echo "== Case A: --auth on, no key exists: the DeepStack route is open"
if start_server A; then
  run_clients open "A: "

  # ------------------------------------------------------------ case B
  echo
  echo "== Case B: after 'keys create' (server left running)"
  KEY=""
  if create_key; then
    run_clients keyed "B live: " "$KEY"
    echo
    echo "== Case B after a restart (the key read back from the auth database)"
    stop_server
    if start_server B; then run_clients keyed "B restarted: " "$KEY"; fi
  fi
fi
stop_server
finish
