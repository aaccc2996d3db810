# Sourced by .ci/run (and usable by hand: `source .ci/moto.sh`): installs moto in a venv under
# target/, starts `moto_server` on 127.0.0.1 on a free port, creates a bucket and exports
# WAL_TEST_S3_ENDPOINT / WAL_TEST_S3_BUCKET. The server is killed when the shell exits.
MOTO_VENV="${MOTO_VENV:-$PWD/target/moto-venv}"
if [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
    echo "== installing moto into $MOTO_VENV"
    python3 -m venv "$MOTO_VENV"
    "$MOTO_VENV/bin/pip" install -q 'moto[s3]==5.2.5' flask flask-cors
fi
MOTO_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
MOTO_LOG="${TMPDIR:-/tmp}/moto-$MOTO_PORT.log"
"$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
        echo "moto_server died:"; cat "$MOTO_LOG"; exit 1
    fi
    sleep 0.2
done
curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/"
export WAL_TEST_S3_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
export WAL_TEST_S3_BUCKET="wal-ci"
curl -fsS -X PUT -o /dev/null "$WAL_TEST_S3_ENDPOINT/$WAL_TEST_S3_BUCKET"
echo "== moto_server pid $MOTO_PID at $WAL_TEST_S3_ENDPOINT, bucket $WAL_TEST_S3_BUCKET"
