#!/usr/bin/env bash
# One quiet sitting for the leaderboard (issue 17): both catalogue models x llama_cpp,
# onnxruntime and ort_genai x the laptop-2c-4g and host profiles, at each profile's
# canonical workload, with the quality tasks the profiles' floors name and the parity of
# every ONNX port against its GGUF; then the leaderboard and its page.
#
#   benchmarks/leaderboard_sitting.sh OUT_DIR SITE_DIR
#
# Run it on a quiet machine (nothing else running: the speed records carry their
# measurement conditions, and a contended row is shown but not ranked). Records go to
# OUT_DIR/runs, the leaderboard to OUT_DIR/leaderboard.json, the page to SITE_DIR (open
# SITE_DIR/index.html from disk), a log of every command and the ranked and unranked rows
# to OUT_DIR/sitting.log.
#
# Order: quality and parity first (untimed; they also prepare the ONNX ports, so no
# conversion happens in the timed part), then the speed runs, alternating profiles and
# backends, each worker waiting up to WAIT_IDLE seconds for quiet cores.
#
# Settings (environment variables, defaults in brackets):
#   SLLM            the command [sllm-bench]
#   MODELS          [smollm2-135m-instruct-q4_1,gemma3-270m-q4_k_m]
#   PROFILES        [laptop-2c-4g host]
#   GGUF_BACKENDS   backends that read the GGUF file [llama_cpp]
#   PORT_BACKENDS   backends that read the ONNX port [onnxruntime,ort_genai]
#   SCORE_BACKEND   the port backend that scores and exposes logits (quality, parity)
#                   [onnxruntime]; ort_genai rows show its figures for the same folder
#   PRECISIONS      ONNX precisions [gguf int4-rtn] (int4-rtn: the builder's re-quantized
#                   port, shown unranked when its parity fails; "" for no ports)
#   PROMPTS, GENS   speed workloads [128] [64] (each profile's canonical workload; add
#                   e.g. PROMPTS=128,512 for a second, separately ranked workload)
#   REPS, WARMUP    timed and untimed repetitions [10] [2]
#   WAIT_IDLE       seconds each worker may wait for quiet cores [120]
#   QUALITY_TASKS   [mc_en,mc_ko,prose_en]   QUALITY_LIMIT  items per task [all]
#   PARITY_TOKENS   [512]   ROUNDS  speed passes over every profile and backend [1]
#   SCREENSHOT      PNG of the page at 1400 px wide, taken with headless Chromium when it
#                   is installed [OUT_DIR/leaderboard.png] (copy it to docs/ for the note;
#                   CHROMIUM="" skips it)
#   STEPS           which parts to run [quality parity speed leaderboard]: the untimed
#                   quality and parity can run earlier (e.g. STEPS="quality parity"),
#                   then STEPS="speed leaderboard" on the quiet machine, same OUT_DIR
#   TINY=1          a seconds-long smoke check (p8 g8, 1 repetition, 4 items, 64 parity
#                   tokens): only to see that the script works, never for figures
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 OUT_DIR SITE_DIR" >&2
  exit 2
fi
OUT=$1
SITE=$2
SLLM=${SLLM:-sllm-bench}
MODELS=${MODELS:-smollm2-135m-instruct-q4_1,gemma3-270m-q4_k_m}
PROFILES=${PROFILES:-laptop-2c-4g host}
GGUF_BACKENDS=${GGUF_BACKENDS:-llama_cpp}
PORT_BACKENDS=${PORT_BACKENDS-onnxruntime,ort_genai}
SCORE_BACKEND=${SCORE_BACKEND-onnxruntime}
PRECISIONS=${PRECISIONS-gguf int4-rtn}
PROMPTS=${PROMPTS:-128}
GENS=${GENS:-64}
REPS=${REPS:-10}
WARMUP=${WARMUP:-2}
WAIT_IDLE=${WAIT_IDLE:-120}
QUALITY_TASKS=${QUALITY_TASKS:-mc_en,mc_ko,prose_en}
QUALITY_LIMIT=${QUALITY_LIMIT:-}
PARITY_TOKENS=${PARITY_TOKENS:-512}
ROUNDS=${ROUNDS:-1}
PYTHON=${PYTHON:-python3}
SCREENSHOT=${SCREENSHOT:-$OUT/leaderboard.png}
STEPS=" ${STEPS:-quality parity speed leaderboard} "
CHROMIUM=${CHROMIUM-$(command -v chromium || command -v chromium-browser || true)}
if [ "${TINY:-0}" = 1 ]; then
  PROMPTS=8 GENS=8 REPS=1 WARMUP=0 WAIT_IDLE=0 QUALITY_LIMIT=4 PARITY_TOKENS=64
fi
LIMIT=()
[ -n "$QUALITY_LIMIT" ] && LIMIT=(--limit "$QUALITY_LIMIT")
RUNS=$OUT/runs
LOG=$OUT/sitting.log
mkdir -p "$RUNS" || exit 2
FAILED=0

say() { echo "$*" | tee -a "$LOG" >&2; }
step() {  # run one command, log it; a failed step is counted, the sitting goes on
  say "+ $*"
  "$@" >>"$LOG" 2> >(tee -a "$LOG" >&2)
  local rc=$?
  if [ $rc -ne 0 ]; then
    say "  exit $rc"
    FAILED=$((FAILED + 1))
  fi
}

say "sitting started $(date -u +%FT%TZ) on $(hostname); load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
say "models $MODELS; profiles $PROFILES; backends $GGUF_BACKENDS + ${PORT_BACKENDS:-none} at ${PRECISIONS:-no port}"

has() { [[ "$STEPS" == *" $1 "* ]]; }

# 1. quality (untimed; quality does not depend on the profile, so once, on host)
has quality && step $SLLM run --no-speed --no-progress -m "$MODELS" -b "$GGUF_BACKENDS" -d host \
  --tasks "$QUALITY_TASKS" "${LIMIT[@]}" --out "$RUNS"
if has quality && [ -n "$SCORE_BACKEND" ]; then
  for precision in $PRECISIONS; do
    step $SLLM run --no-speed --no-progress -m "$MODELS" -b "$SCORE_BACKEND" -d host \
      --precision "$precision" --tasks "$QUALITY_TASKS" "${LIMIT[@]}" --out "$RUNS"
  done
fi

# 2. parity of each port against its GGUF (the first backend is the reference)
if has parity && [ -n "$SCORE_BACKEND" ]; then
  reference=${GGUF_BACKENDS%%,*}
  for model in ${MODELS//,/ }; do
    for precision in $PRECISIONS; do
      step $SLLM parity -m "$model" -b "$reference,$SCORE_BACKEND" --precision "$precision" \
        --tokens "$PARITY_TOKENS" -d host --out "$RUNS"
    done
  done
fi

# 3. speed, alternating profiles and backends
has speed && for round in $(seq 1 "$ROUNDS"); do
  for profile in $PROFILES; do
    say "round $round, $profile: load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    step $SLLM run --no-progress -m "$MODELS" -b "$GGUF_BACKENDS" -d "$profile" --tasks none \
      -p "$PROMPTS" -n "$GENS" -r "$REPS" --warmup "$WARMUP" --wait-idle "$WAIT_IDLE" \
      --out "$RUNS"
    if [ -n "$PORT_BACKENDS" ]; then
      for precision in $PRECISIONS; do
        step $SLLM run --no-progress -m "$MODELS" -b "$PORT_BACKENDS" -d "$profile" \
          --precision "$precision" --tasks none -p "$PROMPTS" -n "$GENS" -r "$REPS" \
          --warmup "$WARMUP" --wait-idle "$WAIT_IDLE" --out "$RUNS"
      done
    fi
  done
done

# 4. the leaderboard and its page
has leaderboard || exit $((FAILED > 0))
step $SLLM leaderboard "$RUNS" -o "$OUT/leaderboard.json" --html "$SITE"
if [ -n "$CHROMIUM" ] && [ -f "$SITE/index.html" ]; then
  say "+ $CHROMIUM --headless --screenshot=$SCREENSHOT (its messages go to the log only)"
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1400,2600 --user-data-dir="$OUT/.chromium" \
    --screenshot="$(realpath -m "$SCREENSHOT")" "file://$(realpath "$SITE")/index.html" \
    >>"$LOG" 2>&1 || { say "  screenshot failed"; FAILED=$((FAILED + 1)); }
  rm -rf "$OUT/.chromium"
fi
say "sitting finished $(date -u +%FT%TZ); $FAILED step(s) failed"
if [ -f "$OUT/leaderboard.json" ]; then
  "$PYTHON" - "$OUT/leaderboard.json" <<'EOF' | tee -a "$LOG"
import json, sys

doc = json.load(open(sys.argv[1], encoding="utf-8"))
for g in doc["groups"]:
    print(f"\n## {g['id']}{' (canonical workload)' if g['canonical'] else ''}")
    for r in (r for r in doc["rows"] if r["group"] == g["id"]):
        name = f"{r['model']['id']} {r['backend']}" + (f" ({r['precision']})" if r["precision"] else "")
        why = "; ".join(u["reason"] for u in r["unranked"])
        rank = f"rank {r['rank']}, score {r['score']:.1f}" if r["rank"] else f"not ranked: {why}"
        print(f"- {name}: decode {r['speed']['decode_tps'] or 0:.1f} tok/s, {rank}")
EOF
fi
[ "$FAILED" -eq 0 ]
