#!/usr/bin/env bash
# Runs the benchmarks of BENCHMARKS.md and prints the table and the ratios,
# all from one `go test -bench` run. Usage: bash scripts/bench.sh [count]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-8}
out=$(mktemp)
go test -run '^$' -bench 'Sign$|SignFloor|SignV2|BuildRequest|PayNoNetwork|Loopback' -benchmem -count "$count" . | tee "$out"
# The default client's pool: 2,560 calls per run (calls/s and connections are reported metrics).
go test -run '^$' -bench 'DefaultPool' -benchtime 2560x -count 3 .
echo
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out" || true
echo
# Medians of ns/op per benchmark, then the ratios the targets name.
awk '
  /^Benchmark/ { name=$1; sub(/-[0-9]+$/, "", name); for (i=3; i<NF; i++) if ($(i+1)=="ns/op") v[name]=v[name] " " $i }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i=1; i<=n; i++) for (j=i+1; j<=n; j++) if (a[j]+0 < a[i]+0) { t=a[i]; a[i]=a[j]; a[j]=t }
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  END {
    printf "signing: Sign / SignFloor = %.2f (target <= 1.5)\n", median(v["BenchmarkSign"]) / median(v["BenchmarkSignFloor"])
    printf "2.0 signing: SignV2 / SignV2Floor = %.2f (target <= 1.3)\n", median(v["BenchmarkSignV2"]) / median(v["BenchmarkSignV2Floor"])
    for (g=1; g<=256; g*=2) {
      p = "BenchmarkLoopback/goroutines=" g "/pay"; b = "BenchmarkLoopback/goroutines=" g "/bare"
      if (p in v && b in v)
        printf "calls/s: Pay / bare POST at %3d goroutines = %.2f%s\n", g, median(v[b]) / median(v[p]), (g==1 || g==64) ? " (target >= 0.9)" : ""
    }
  }' "$out"
rm -f "$out"
