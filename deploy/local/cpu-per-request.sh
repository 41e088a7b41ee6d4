# Sourced by the side-by-side benchmarks: server CPU time per request, measured from /proc
# (utime+stime of the server's processes) around a load run, repeated and alternated between
# the two servers because this shared VM varies by ±20 % from one run to the next.
#
#   cpu_ticks PID...                     CPU ticks used so far by those processes
#   cpu_per_request LOAD PID...          runs the function LOAD (prints "requests p99"),
#                                        prints "µs/request p99"
#   side_by_side ROWS LABEL_A LOAD_A PIDS_A LABEL_B LOAD_B PIDS_B
#                                        ROUNDS alternating runs of each; appends markdown
#                                        rows (median, range, p99 median) and the A/B ratio
hz=$(getconf CLK_TCK)
rounds=${ROUNDS:-7}

cpu_ticks() { local t=0 p; for p in "$@"; do read -r -a f <"/proc/$p/stat"; t=$((t + f[13] + f[14])); done; echo $t; }

cpu_per_request() {
  local load=$1; shift
  local before after out
  before=$(cpu_ticks "$@")
  out=$("$load")
  after=$(cpu_ticks "$@")
  python3 -c "import sys; r, p99 = sys.argv[1], sys.argv[2]; print(f'{($after - $before) * 1e6 / $hz / max(int(r), 1):.2f} {p99}')" $out
}

side_by_side() {
  local rows=$1 la=$2 loada=$3 pa=$4 lb=$5 loadb=$6 pb=$7 a=() b=()
  for _ in $(seq "$rounds"); do
    # shellcheck disable=SC2086
    a+=("$(cpu_per_request "$loada" $pa)"); b+=("$(cpu_per_request "$loadb" $pb)")
  done
  python3 - "$la" "$lb" "$(printf '%s;' "${a[@]}")" "$(printf '%s;' "${b[@]}")" >>"$rows" <<'PY'
import statistics, sys
la, lb, a, b = sys.argv[1:]
def parse(s):
    runs = [r.split() for r in s.strip(";").split(";")]
    return [float(r[0]) for r in runs], [r[1] for r in runs]
(ca, pa), (cb, pb) = parse(a), parse(b)
def ms(p):  # wrk latency text → ms ("-": not measured)
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if p.endswith(unit):
            try:
                return float(p[: -len(unit)]) * f
            except ValueError:
                break
    return float("nan")
ma, mb = statistics.median(ca), statistics.median(cb)
print(f"| {la} | {ma:.2f} | {min(ca):.2f}–{max(ca):.2f} | {statistics.median(map(ms, pa)):.2f} |")
print(f"| {lb} | {mb:.2f} | {min(cb):.2f}–{max(cb):.2f} | {statistics.median(map(ms, pb)):.2f} |")
print(f"| **{la} / {lb}** | **{ma / mb:.2f}×** | | |")
PY
}
