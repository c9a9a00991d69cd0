# Shared by the benchmark scripts (sourced).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_ready PORT PATH: until GET http://127.0.0.1:PORT/PATH answers 2xx (60 s at most).
wait_ready() { for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not ready on $1$2" >&2; return 1; }
