#!/usr/bin/env bash
# Packaging speed and memory: `lectern package` against ffmpeg doing the same job on the same
# machine in one run. One 60 s 1080p30 source with stereo audio; both make the rungs
# 1080/720/360 with x264 `veryfast`, a keyframe every 4 s and no scene-cut keyframes, two
# B-frames, constant bitrate with a 1 s VBV buffer, AAC 128 kb/s, fMP4 HLS. Runs alternate (lectern, ffmpeg, lectern, ffmpeg, ...) so
# background load hits both alike. Prints wall time and peak RSS per run, medians, and ratios.
#
# Usage: benches/package.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)"; exit 1; }
cargo build --release --quiet
LECTERN=target/release/lectern
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

src="$work/source.mp4"
echo "making a 60 s 1080p30 source..."
gst-launch-1.0 -q -e \
  videotestsrc num-buffers=1800 pattern=smpte horizontal-speed=3 ! \
    video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 ! \
    x264enc speed-preset=ultrafast bitrate=12000 ! h264parse ! queue ! mp4mux name=mux ! filesink location="$src" \
  audiotestsrc num-buffers=2813 samplesperbuffer=1024 wave=ticks ! audio/x-raw,rate=48000,channels=2 ! \
    avenc_aac ! aacparse ! queue ! mux.

run_lectern() {
  rm -rf "$work/lectern"
  LECTERN_X264_PRESET=veryfast "$LECTERN" package "$src" --out "$work/lectern" \
    --ladder 1080:5000,720:2800,360:800 --segment-seconds 4 >/dev/null
}

run_ffmpeg() {
  rm -rf "$work/ffmpeg" && mkdir -p "$work/ffmpeg"
  ffmpeg -nostdin -v error -y -i "$src" \
    -filter_complex "[0:v]split=3[a][b][c];[a]scale=1920:1080[v0];[b]scale=1280:720[v1];[c]scale=640:360[v2]" \
    -map "[v0]" -map "[v1]" -map "[v2]" -map 0:a \
    -c:v libx264 -preset veryfast -profile:v high -g 120 -keyint_min 120 -sc_threshold 0 -bf 2 \
    -b:v:0 5000k -maxrate:v:0 5000k -bufsize:v:0 5000k \
    -b:v:1 2800k -maxrate:v:1 2800k -bufsize:v:1 2800k \
    -b:v:2 800k -maxrate:v:2 800k -bufsize:v:2 800k \
    -c:a aac -b:a 128k -ar 48000 -ac 2 \
    -f hls -hls_time 4 -hls_playlist_type vod -hls_segment_type fmp4 \
    -master_pl_name master.m3u8 \
    -var_stream_map "v:0,agroup:aud v:1,agroup:aud v:2,agroup:aud a:0,agroup:aud" \
    "$work/ffmpeg/%v/index.m3u8"
}

measure() { # name → appends "wall_seconds peak_kib" to $work/$name.txt
  /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "run_$1"
  cat "$work/time.txt" >> "$work/$1.txt"
  read -r wall rss < "$work/time.txt"
  printf "  %-8s %7.2f s  %7.0f MiB\n" "$1" "$wall" "$(echo "$rss / 1024" | bc -l)"
}

export -f run_lectern run_ffmpeg
export src work LECTERN
echo "rounds: $ROUNDS (wall time, peak RSS)"
for i in $(seq 1 "$ROUNDS"); do
  echo "round $i"
  measure lectern
  measure ffmpeg
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
lw=$(cut -d' ' -f1 "$work/lectern.txt" | median); fw=$(cut -d' ' -f1 "$work/ffmpeg.txt" | median)
lm=$(cut -d' ' -f2 "$work/lectern.txt" | median); fm=$(cut -d' ' -f2 "$work/ffmpeg.txt" | median)
echo
printf "%-10s %10s %12s\n" tool "wall (s)" "peak (MiB)"
printf "%-10s %10.2f %12.0f\n" lectern "$lw" "$(echo "$lm/1024" | bc -l)"
printf "%-10s %10.2f %12.0f\n" ffmpeg "$fw" "$(echo "$fm/1024" | bc -l)"
printf "ratio lectern/ffmpeg: time %.2f, memory %.2f (below 1 is better for lectern)\n" \
  "$(echo "$lw/$fw" | bc -l)" "$(echo "$lm/$fm" | bc -l)"
