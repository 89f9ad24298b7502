#!/usr/bin/env bash
# Origin throughput: `lectern serve` against nginx (sendfile on) serving the same files on the
# same machine, driven by wrk in one run, alternating. Two targets: a hot ~2.5 MB 1080p segment
# and the master playlist (signed URL for lectern; the same file by plain path for nginx, which
# checks no token). At 50, 200 and 1000 connections. Prints req/s, transfer/s and p99 for both,
# and the ratios. Everything listens on 127.0.0.1 and is stopped by PID at the end.
#
# Usage: benches/origin.sh [SECONDS_PER_RUN]   (default 10; env REPS=3 runs per row, medians
# reported; TARGETS="segment master", CONNS="50 200 1000" choose rows)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-10}"
REPS="${REPS:-3}" # runs per row, alternating; nginx alone moves ±20 % between runs here
for tool in nginx wrk; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "needs $tool (./setup.sh)"; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release --quiet
LECTERN="$PWD/target/release/lectern"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "making and importing an 8 s 1080p clip..."
gst-launch-1.0 -q -e videotestsrc num-buffers=240 pattern=smpte horizontal-speed=3 ! \
  video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 ! x264enc speed-preset=ultrafast bitrate=12000 ! \
  h264parse ! mp4mux ! filesink location="$work/clip.mp4"
json=$(LECTERN_LADDER=1080:5000 "$LECTERN" import "$work/clip.mp4" --data "$work/data")
hls=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["hls"])' "$json")
prefix=$(find "$work/data/store/media" -name master.m3u8 -printf '%h\n' | head -1)
rel=${prefix#"$work/data/store/"}
segment=$(ls -S "$prefix"/1080p/*.m4s | head -1); segment_name=$(basename "$segment")
echo "hot segment: 1080p/$segment_name ($(stat -c %s "$segment") bytes)"

lport=$(free_port)
"$LECTERN" serve --data "$work/data" --listen "127.0.0.1:$lport" > "$work/lectern.log" 2>&1 &
pids+=($!)
nport=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  types { application/vnd.apple.mpegurl m3u8; video/mp4 m4s mp4; }
  server {
    listen 127.0.0.1:$nport;
    root $work/data/store;
    location / { add_header Access-Control-Allow-Origin *; add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
CONF
"$NGINX" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
chmod -R a+rX "$work"
sleep 1
for u in "http://127.0.0.1:$lport$hls" "http://127.0.0.1:$nport/$rel/master.m3u8"; do
  code=$(python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]).status)' "$u")
  [ "$code" = 200 ] || { echo "warm-up failed for $u"; exit 1; }
done

declare -A target_lectern target_nginx
target_lectern[segment]="http://127.0.0.1:$lport${hls%master.m3u8}1080p/$segment_name"
target_nginx[segment]="http://127.0.0.1:$nport/$rel/1080p/$segment_name"
target_lectern[master]="http://127.0.0.1:$lport$hls"
target_nginx[master]="http://127.0.0.1:$nport/$rel/master.m3u8"

to_ms() { # wrk latency (e.g. 1.23ms, 450.00us, 1.02s) → ms
  python3 -c 'import sys,re; v,u=re.match(r"([\d.]+)(\w+)",sys.argv[1]).groups(); print(float(v)*{"us":0.001,"ms":1,"s":1000,"m":60000}[u])' "$1"
}
to_mib() { # wrk transfer (e.g. 1.20GB) → MiB/s
  python3 -c 'import sys,re; v,u=re.match(r"([\d.]+)(\w+)",sys.argv[1]).groups(); print(float(v)*{"B":1/1048576,"KB":1/1024,"MB":1,"GB":1024}[u])' "$1"
}
run() { # server target conns → "req/s MiB/s p99ms"
  local url=$2
  local out; out=$(wrk -t2 -c"$3" -d"${SECONDS_PER_RUN}s" --latency "$url")
  local rps; rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  local tr; tr=$(awk '/^Transfer\/sec/ {print $2}' <<<"$out")
  local p99; p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "$rps $(to_mib "$tr") $(to_ms "$p99")"
}

median() { tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "(each row: $REPS alternating lectern/nginx runs of ${SECONDS_PER_RUN}s; medians shown)"
printf "\n%-8s %6s | %12s %10s %9s | %12s %10s %9s | %8s %8s\n" target conns "lectern r/s" "MiB/s" "p99 ms" "nginx r/s" "MiB/s" "p99 ms" "r/s ×" "p99 ×"
spread=()
for target in ${TARGETS:-segment master}; do
  for conns in ${CONNS:-50 200 1000}; do
    LR=(); LT=(); LP=(); NR=(); NT=(); NP=()
    for _ in $(seq "$REPS"); do
      read -r lr lt lp <<<"$(run lectern "${target_lectern[$target]}" "$conns")"
      read -r nr nt np <<<"$(run nginx "${target_nginx[$target]}" "$conns")"
      LR+=("$lr"); LT+=("$lt"); LP+=("$lp"); NR+=("$nr"); NT+=("$nt"); NP+=("$np")
    done
    lr=$(median <<<"${LR[*]}"); lt=$(median <<<"${LT[*]}"); lp=$(median <<<"${LP[*]}")
    nr=$(median <<<"${NR[*]}"); nt=$(median <<<"${NT[*]}"); np=$(median <<<"${NP[*]}")
    printf "%-8s %6s | %12.0f %10.1f %9.2f | %12.0f %10.1f %9.2f | %8.2f %8.2f\n" \
      "$target" "$conns" "$lr" "$lt" "$lp" "$nr" "$nt" "$np" \
      "$(echo "$lr / $nr" | bc -l)" "$(echo "$lp / $np" | bc -l)"
    spread+=("$(printf "%-8s %6s | lectern %s | nginx %s" "$target" "$conns" "${LP[*]}" "${NP[*]}")")
  done
done
echo "(r/s × = lectern/nginx, above 1 is better for lectern; p99 × = lectern/nginx, below 1 is better)"
echo
echo "p99 ms of every run, in run order (how far one run moves):"
printf "%s\n" "${spread[@]}"
