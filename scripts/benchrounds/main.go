// Command benchrounds compares benchmarks by interleaved rounds, the way
// BENCHMARKS.md is measured: on a noisy machine two back-to-back runs differ
// by more than the change being measured, so each round runs every
// contender once, in an order that alternates between rounds, each in a
// fresh process (a fresh heap: no garbage from the previous run), and the
// ratio is taken within the round. The first round warms caches and is
// dropped. It prints, per pair, the median and min–max of the per-round
// ratios of ns/op, and the allocations of each side.
//
// Usage (from the repository root; scripts/bench.sh runs the usual set):
//
//	go run ./scripts/benchrounds [-rounds 9] [-benchtime 1s] [-pkg .] A:B|A ...
//
// A and B are benchmark names without the Benchmark prefix, sub-benchmarks
// after a slash (Loopback/goroutines=1/pay). The ratio printed is A ÷ B. A
// name alone is run in the rounds too, for the metrics it reports (a
// benchmark that pairs its contenders itself reports their ratio).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type result struct {
	nsPerOp     float64
	allocsPerOp float64
	extra       map[string]float64 // reported metrics, e.g. connections
}

func main() {
	rounds := flag.Int("rounds", 9, "rounds to keep (one more is run first and dropped)")
	benchtime := flag.String("benchtime", "1s", "-test.benchtime of each run")
	pkg := flag.String("pkg", ".", "package whose benchmarks to run")
	flag.Parse()
	if flag.NArg() == 0 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: benchrounds [-rounds N] [-benchtime D] [-pkg P] A:B|A ...")
		os.Exit(2)
	}
	type pair struct{ a, b string }
	var pairs []pair
	var names []string
	seen := map[string]bool{}
	for _, arg := range flag.Args() {
		a, b, paired := strings.Cut(arg, ":")
		if a == "" || (paired && b == "") {
			fmt.Fprintf(os.Stderr, "benchrounds: %q is not A:B or A\n", arg)
			os.Exit(2)
		}
		contenders := []string{a}
		if paired {
			pairs = append(pairs, pair{a, b})
			contenders = append(contenders, b)
		}
		for _, n := range contenders {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}

	dir, err := os.MkdirTemp("", "benchrounds-")
	check(err)
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bench.test")
	build := exec.Command("go", "test", "-c", "-o", bin, *pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	check(build.Run())

	runs := map[string][]result{} // name → one result per kept round
	for r := 0; r <= *rounds; r++ {
		order := append([]string(nil), names...)
		if r%2 == 1 { // alternate: A B … then … B A
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, n := range order {
			res, err := runOne(bin, n, *benchtime)
			check(err)
			if r > 0 {
				runs[n] = append(runs[n], res)
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r, *rounds)
	}

	fmt.Printf("%d rounds (+1 dropped), -benchtime %s, each run a fresh process, order alternating\n\n", *rounds, *benchtime)
	if len(pairs) > 0 {
		fmt.Println("| A ÷ B | median | min–max | A ns/op (median) | B ns/op (median) | A allocs | B allocs |")
		fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	}
	for _, p := range pairs {
		ra, rb := runs[p.a], runs[p.b]
		ratios := make([]float64, len(ra))
		for i := range ra {
			ratios[i] = ra[i].nsPerOp / rb[i].nsPerOp
		}
		fmt.Printf("| %s ÷ %s | %.2f | %.2f–%.2f | %s | %s | %s | %s |\n", p.a, p.b,
			median(ratios), minOf(ratios), maxOf(ratios),
			fmtNum(median(field(ra, func(r result) float64 { return r.nsPerOp }))),
			fmtNum(median(field(rb, func(r result) float64 { return r.nsPerOp }))),
			fmtNum(median(field(ra, func(r result) float64 { return r.allocsPerOp }))),
			fmtNum(median(field(rb, func(r result) float64 { return r.allocsPerOp }))))
	}
	// Reported metrics (connections, calls/s, …) per benchmark, min–max.
	for _, n := range names {
		keys := map[string]bool{}
		for _, r := range runs[n] {
			for k := range r.extra {
				keys[k] = true
			}
		}
		for _, k := range sortedKeys(keys) {
			vals := field(runs[n], func(r result) float64 { return r.extra[k] })
			fmt.Printf("\n%s %s: median %s, min–max %s–%s", n, k, fmtNum(median(vals)), fmtNum(minOf(vals)), fmtNum(maxOf(vals)))
		}
	}
	fmt.Println()
}

// benchRegexp turns Loopback/goroutines=1/pay into the -test.bench pattern
// that selects exactly that benchmark.
func benchRegexp(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if i == 0 {
			p = "Benchmark" + p
		}
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func runOne(bin, name, benchtime string) (result, error) {
	cmd := exec.Command(bin, "-test.run=^$", "-test.bench="+benchRegexp(name),
		"-test.benchtime="+benchtime, "-test.benchmem", "-test.count=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s: %v\n%s", name, err, out.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		res := result{extra: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch unit := f[i+1]; unit {
			case "ns/op":
				res.nsPerOp = v
			case "allocs/op":
				res.allocsPerOp = v
			case "B/op":
			default:
				res.extra[unit] = v
			}
		}
		if res.nsPerOp > 0 {
			return res, nil
		}
	}
	return result{}, fmt.Errorf("%s: no result in the output (does the benchmark exist?)\n%s", name, out.String())
}

func field(rs []result, f func(result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func fmtNum(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrounds:", err)
		os.Exit(1)
	}
}
