#!/usr/bin/env bash
# Measures the rows of BENCHMARKS.md by interleaved rounds (see
# scripts/benchrounds): every contender once per round, order alternating,
# each run a fresh process, the first round dropped; per-round ratios
# reported as median and min–max.
# Usage: bash scripts/bench.sh [rounds]   (default 9; about 15 minutes per 9)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-9}

# Signing against bare HMAC: the client's internal paths, then the public
# map signers.
go run ./scripts/benchrounds -rounds "$rounds" -benchtime 1s \
  Sign:SignFloor \
  SignV2:SignV2Floor \
  SigMap:SigMapFloor

# A whole Pay against a bare POST of the same request, loopback, both
# versions; allocations per op count the in-process server too.
go run ./scripts/benchrounds -rounds "$rounds" -benchtime 1s \
  Loopback/v1/goroutines=1/pay:Loopback/v1/goroutines=1/bare \
  Loopback/v1/goroutines=64/pay:Loopback/v1/goroutines=64/bare \
  Loopback/v2/goroutines=1/pay:Loopback/v2/goroutines=1/bare \
  Loopback/v2/goroutines=64/pay:Loopback/v2/goroutines=64/bare

# The same ratio measured within one process, which the spread between
# processes does not blur: rounds of 1,024 calls of each (one by one in
# alternation at one goroutine, alternating phases at 64); each process
# reports the median, min and max of its rounds.
go run ./scripts/benchrounds -rounds "$rounds" -benchtime 20480x \
  LoopbackPaired/v1/goroutines=1 LoopbackPaired/v1/goroutines=64 \
  LoopbackPaired/v2/goroutines=1 LoopbackPaired/v2/goroutines=64

# Where a Pay's time over its bare POST goes, one step of the SDK's work at
# a time (one goroutine).
go run ./scripts/benchrounds -rounds "$(( rounds < 5 ? rounds : 5 ))" -benchtime 10000x \
  LoopbackSteps/v1 LoopbackSteps/v2

# The push handler against a bare handler doing the same SHA1/AES/HMAC work.
go run ./scripts/benchrounds -rounds "$rounds" -benchtime 1s -pkg ./push \
  PushHandler/plain:PushHandler/plain-bare \
  PushHandler/secure:PushHandler/secure-bare

# The default client's pool: 2,560 calls per run against a 20 ms TLS server;
# calls/s and connections opened are reported metrics.
go run ./scripts/benchrounds -rounds "$(( rounds < 5 ? rounds : 5 ))" -benchtime 2560x \
  DefaultPool/goroutines=64/pay-default:DefaultPool/goroutines=64/bare-sized \
  DefaultPool/goroutines=256/pay-default:DefaultPool/goroutines=256/bare-sized
