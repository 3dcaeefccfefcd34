// Package measure is what the load harnesses under test/load share: latency samples
// and their quantiles, a process's CPU and memory from /proc, and Prometheus text
// metrics with their histograms.
package measure

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Durations is a sample of latencies.
type Durations []time.Duration

// Quantile is the nearest-rank q-quantile (0 < q <= 1); zero for an empty sample.
func (d Durations) Quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append(Durations(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Max is the largest value; zero for an empty sample.
func (d Durations) Max() time.Duration {
	var m time.Duration
	for i, v := range d {
		if i == 0 || v > m {
			m = v
		}
	}
	return m
}

// Min is the smallest value; zero for an empty sample.
func (d Durations) Min() time.Duration {
	var m time.Duration
	for i, v := range d {
		if i == 0 || v < m {
			m = v
		}
	}
	return m
}

// MS formats a duration in milliseconds (seconds from 10 s), with a sign.
func MS(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch a := math.Abs(v); {
	case a >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case a >= 100:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

// clockTick is USER_HZ, the unit of the CPU times in /proc/<pid>/stat; 100 on every
// Linux architecture Go supports.
const clockTick = 100

// Proc is what /proc says about one process at one moment.
type Proc struct {
	CPU time.Duration // user + system
	RSS int64         // VmRSS, bytes
	HWM int64         // VmHWM, bytes: peak RSS over the process's life
}

// ReadProc samples a process: CPU from /proc/<pid>/stat, memory from /proc/<pid>/status.
func ReadProc(pid int) (Proc, error) {
	var s Proc
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	s.CPU = time.Duration(utime+stime) * time.Second / clockTick

	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &s.RSS
		case "VmHWM":
			dst = &s.HWM
		default:
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		*dst = kb * 1024
	}
	return s, sc.Err()
}

// MachineBusy is the CPU time every core of the machine spent not idle, from /proc/stat.
func MachineBusy() time.Duration {
	var busy int64
	for i, n := range cpuTimes() {
		// user nice system idle iowait irq softirq steal (guest times are in user already)
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTick
}

// MachineSteal is the time the hypervisor ran something else while this machine's
// cores wanted to run (steal, from /proc/stat): on a shared host, the part of a run's
// slowness no process of the run can be blamed for.
func MachineSteal() time.Duration {
	if t := cpuTimes(); len(t) > 7 {
		return time.Duration(t[7]) * time.Second / clockTick
	}
	return 0
}

// cpuTimes are the fields of /proc/stat's line for all cores, in clock ticks.
func cpuTimes() []int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return nil
	}
	out := make([]int64, len(f)-1)
	for i, v := range f[1:] {
		out[i], _ = strconv.ParseInt(v, 10, 64)
	}
	return out
}

// FindPID returns the process whose command line contains every needle, or 0.
func FindPID(needles ...string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, n := range needles {
			all = all && strings.Contains(cmd, n)
		}
		if all {
			return pid
		}
	}
	return 0
}

// MiB formats bytes in mebibytes.
func MiB(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// Metrics is one scrape of a Prometheus text endpoint: series ("name{k="v",...}",
// labels as exposed) to value.
type Metrics map[string]float64

// ParseMetrics reads the Prometheus text format; comments and malformed lines are skipped.
func ParseMetrics(text string) Metrics {
	m := Metrics{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// Sum adds the series of a metric whose labels include every given k="v".
func (m Metrics) Sum(name string, labels ...string) float64 {
	var total float64
	for k, v := range m {
		n, lbl, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(lbl, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// Minus is m - before, series by series (counters and histograms over a phase).
func (m Metrics) Minus(before Metrics) Metrics {
	d := Metrics{}
	for k, v := range m {
		d[k] = v - before[k]
	}
	return d
}

// histogram reads a histogram's buckets over the series matching labels: the
// cumulative count at each upper bound, ascending.
func (m Metrics) histogram(name string, labels ...string) (bounds []float64, counts []float64) {
	byLE := map[float64]float64{}
	for k, v := range m {
		n, lbl, _ := strings.Cut(k, "{")
		if n != name+"_bucket" {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(lbl, l)
		}
		if !ok {
			continue
		}
		i := strings.Index(lbl, `le="`)
		if i < 0 {
			continue
		}
		s := lbl[i+4:]
		s = s[:strings.IndexByte(s, '"')]
		le, err := strconv.ParseFloat(s, 64)
		if err != nil {
			le = math.Inf(1)
		}
		byLE[le] += v
	}
	for le := range byLE {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	for _, le := range bounds {
		counts = append(counts, byLE[le])
	}
	return bounds, counts
}

// HistQuantile estimates a quantile from a histogram by linear interpolation inside
// its bucket, as Prometheus's histogram_quantile does.
func (m Metrics) HistQuantile(q float64, name string, labels ...string) time.Duration {
	bounds, counts := m.histogram(name, labels...)
	if len(counts) == 0 || counts[len(counts)-1] == 0 {
		return 0
	}
	rank := q * counts[len(counts)-1]
	prevBound, prevCount := 0.0, 0.0
	for i, c := range counts {
		if c >= rank {
			b := bounds[i]
			if math.IsInf(b, 1) {
				b = prevBound
			}
			frac := 0.0
			if c > prevCount {
				frac = (rank - prevCount) / (c - prevCount)
			}
			return time.Duration((prevBound + (b-prevBound)*frac) * float64(time.Second))
		}
		prevBound, prevCount = bounds[i], c
	}
	return time.Duration(prevBound * float64(time.Second))
}

// HistMean is a histogram's sum over its count.
func (m Metrics) HistMean(name string, labels ...string) time.Duration {
	n := m.Sum(name+"_count", labels...)
	if n == 0 {
		return 0
	}
	return time.Duration(m.Sum(name+"_sum", labels...) / n * float64(time.Second))
}

// OpenLoop calls f(0) ... f(n-1), each in its own goroutine, at rate a second from
// 50 ms from now, and waits for them all. It is open loop: each call starts on
// schedule whatever the earlier ones are doing, so a slow peer cannot hide its
// latency by slowing the load.
func OpenLoop(n int, rate float64, f func(i int)) {
	interval := time.Duration(float64(time.Second) / rate)
	t0 := time.Now().Add(50 * time.Millisecond)
	var wg sync.WaitGroup
	for i := range n {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * interval)))
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// Verdict prints the run's outcome and returns the harness's exit code: 1 with every
// broken correctness invariant listed, else 0 after ok.
func Verdict(broken []string, ok string) int {
	if len(broken) > 0 {
		fmt.Println("\nFAILED: a correctness invariant broke:")
		for _, b := range broken {
			fmt.Println("  -", b)
		}
		return 1
	}
	if ok != "" {
		fmt.Println("\n" + ok)
	}
	return 0
}
