# shellcheck shell=bash
# Sourced by the side-by-side benchmarks: server CPU time per request, measured from /proc
# (utime+stime of the server's processes) around a load run, repeated and alternated between
# the two servers because this shared VM varies by ±20 % from one run to the next.
#
#   cpu_ticks PID...                     CPU ticks used so far by those processes: "user sys"
#   cpu_per_request LOAD PID...          runs the function LOAD (prints "requests p99"),
#                                        prints "µs/request p99 user-µs/request sys-µs/request"
#   side_by_side ROWS LABEL_A LOAD_A PIDS_A LABEL_B LOAD_B PIDS_B
#                                        ROUNDS alternating runs of each; appends markdown
#                                        rows (median, range, user and kernel medians, p99
#                                        median) and the A/B ratio
hz=$(getconf CLK_TCK)
rounds=${ROUNDS:-7}

cpu_ticks() {
  local u=0 k=0 p
  for p in "$@"; do read -r -a f <"/proc/$p/stat"; u=$((u + f[13])); k=$((k + f[14])); done
  echo "$u $k"
}

cpu_per_request() {
  local load=$1; shift
  local u0 k0 u1 k1 out
  read -r u0 k0 < <(cpu_ticks "$@")
  out=$("$load")
  read -r u1 k1 < <(cpu_ticks "$@")
  python3 -c "import sys; r, p99 = sys.argv[1], sys.argv[2]; n = max(int(r), 1); us = lambda t: t * 1e6 / $hz / n
print(f'{us($u1 - $u0 + $k1 - $k0):.2f} {p99} {us($u1 - $u0):.2f} {us($k1 - $k0):.2f}')" $out
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
    return [float(r[0]) for r in runs], [r[1] for r in runs], [float(r[2]) for r in runs], [float(r[3]) for r in runs]
(ca, pa, ua, ka), (cb, pb, ub, kb) = parse(a), parse(b)
def ms(p):  # wrk latency text → ms ("-": not measured)
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if p.endswith(unit):
            try:
                return float(p[: -len(unit)]) * f
            except ValueError:
                break
    return float("nan")
med = statistics.median
ma, mb = med(ca), med(cb)
for label, c, u, k, p in ((la, ca, ua, ka, pa), (lb, cb, ub, kb, pb)):
    print(f"| {label} | {med(c):.2f} | {min(c):.2f}–{max(c):.2f} | {med(u):.2f} | {med(k):.2f} | {med(map(ms, p)):.2f} |")
def ratio(x, y):  # "n/a" when the reference spent no measurable time (sendfile: no user time)
    return f"{x / y:.2f}×" if y else "n/a"
print(f"| **{la} / {lb}** | **{ratio(ma, mb)}** | | {ratio(med(ua), med(ub))} | {ratio(med(ka), med(kb))} | |")
PY
}
