#!/usr/bin/env bash
# Measures the rows of BENCHMARKS.md by interleaved rounds (see
# scripts/benchrounds): every contender once per round, order alternating,
# each run a fresh process, the first round dropped; per-round ratios
# reported as median and min–max.
# Usage: bash scripts/bench.sh [rounds]   (default 9; about 2 minutes per 9)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-9}

go run ./scripts/benchrounds -rounds "$rounds" -benchtime 1s \
  Sign:SignFloor \
  SignV2:SignV2Floor \
  Loopback/goroutines=1/pay:Loopback/goroutines=1/bare \
  Loopback/goroutines=64/pay:Loopback/goroutines=64/bare

# The default client's pool: 2,560 calls per run against a 20 ms TLS server;
# calls/s and connections opened are reported metrics.
go run ./scripts/benchrounds -rounds "$(( rounds < 5 ? rounds : 5 ))" -benchtime 2560x \
  DefaultPool/goroutines=64/pay-default:DefaultPool/goroutines=64/bare-sized \
  DefaultPool/goroutines=256/pay-default:DefaultPool/goroutines=256/bare-sized
