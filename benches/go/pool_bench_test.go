// Package victimpoolbench runs the shapes of benches/shapes.rs and
// benches/pause.rs against Go's sync.Pool, so one report can put Rust and
// Go side by side. Thread counts come from `-cpu 1,2,4,8` (GOMAXPROCS, and
// so the number of RunParallel goroutines and of pool-local shards).
package victimpoolbench

import (
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	burst   = 100 // Overflow burst; Gets per Starvation iteration
	starved = 67  // Puts per Starvation iteration (100 less a third)
)

// item is one of the three item types of the Rust benches.
type item struct {
	name  string
	fresh func() any
}

var items = []item{
	{"vec1k", func() any { b := make([]byte, 0, 1024); return &b }},
	{"box_u64", func() any { v := uint64(42); return &v }},
	{"array128", func() any { var a [16]uint64; return &a }},
}

// sink keeps results alive so Gets are not optimised away.
var sink atomic.Value

// parallel runs one shape per item type, each goroutine keeping the items
// it holds between iterations in its own slice (as the Rust workers do).
func parallel(b *testing.B, withNew bool, hold int, step func(p *sync.Pool, held []any, fresh func() any) []any) {
	for _, it := range items {
		it := it
		b.Run(it.name, func(b *testing.B) {
			var p sync.Pool
			if withNew {
				p.New = it.fresh
			}
			b.RunParallel(func(pb *testing.PB) {
				held := make([]any, 0, burst)
				for i := 0; i < hold; i++ {
					held = append(held, it.fresh())
				}
				for pb.Next() {
					held = step(&p, held, it.fresh)
				}
				sink.Store(len(held))
			})
		})
	}
}

func BenchmarkPool(b *testing.B) {
	parallel(b, true, 1, func(p *sync.Pool, held []any, _ func() any) []any {
		p.Put(held[0])
		held[0] = p.Get()
		return held
	})
}

func BenchmarkOverflow(b *testing.B) {
	parallel(b, true, burst, func(p *sync.Pool, held []any, _ func() any) []any {
		for _, v := range held {
			p.Put(v)
		}
		held = held[:0]
		for i := 0; i < burst; i++ {
			held = append(held, p.Get())
		}
		return held
	})
}

// starve puts the held items, gets 100 (nil means a miss without New),
// keeps 67 and brings in fresh ones if robbed.
func starve(p *sync.Pool, held []any, fresh func() any) []any {
	for _, v := range held {
		p.Put(v)
	}
	held = held[:0]
	for i := 0; i < burst; i++ {
		if v := p.Get(); v != nil {
			held = append(held, v)
		}
	}
	if len(held) > starved {
		held = held[:starved]
	}
	for len(held) < starved {
		held = append(held, fresh())
	}
	return held
}

func BenchmarkStarvation(b *testing.B)    { parallel(b, false, starved, starve) }
func BenchmarkStarvationNew(b *testing.B) { parallel(b, true, starved, starve) }

// BenchmarkCleanupSTW: 100,000 items put, then a GC; reports the GC's
// stop-the-world pause (Go's poolCleanup runs inside it).
func BenchmarkCleanupSTW(b *testing.B) {
	kinds := []item{{"u64", func() any { return 42 }}}
	kinds = append(kinds, items...)
	for _, it := range kinds {
		it := it
		b.Run(it.name, func(b *testing.B) {
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			var stats runtime.MemStats
			var pauses []uint64
			var p sync.Pool
			batch := make([]any, 100000)
			for i := 0; i < b.N; i++ {
				for j := range batch {
					batch[j] = it.fresh()
				}
				for j := range batch {
					p.Put(batch[j])
					batch[j] = nil
				}
				runtime.GC()
				runtime.ReadMemStats(&stats)
				pauses = append(pauses, stats.PauseNs[(stats.NumGC+255)%256])
			}
			sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
			var total uint64
			for _, ns := range pauses {
				total += ns
			}
			b.ReportMetric(float64(total)/float64(b.N), "ns/op")
			b.ReportMetric(float64(pauses[len(pauses)*50/100]), "p50-ns/STW")
			b.ReportMetric(float64(pauses[len(pauses)*95/100]), "p95-ns/STW")
		})
	}
}

var ballast []byte

// BenchmarkExpensiveNew: New sleeps 1 ms; each iteration gets 100 items
// (allocating 32 KiB per item as work) and puts them back; GC runs as the
// heap grows. Reports New calls and GCs per iteration.
func BenchmarkExpensiveNew(b *testing.B) {
	ballast = make([]byte, 8<<20)
	defer func() { ballast = nil }()
	var p sync.Pool
	var news uint64
	p.New = func() any {
		atomic.AddUint64(&news, 1)
		time.Sleep(time.Millisecond)
		v := uint64(42)
		return &v
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.RunParallel(func(pb *testing.PB) {
		held := make([]any, burst)
		var work []byte
		for pb.Next() {
			for i := range held {
				held[i] = p.Get()
				work = make([]byte, 32<<10)
			}
			for i, v := range held {
				p.Put(v)
				held[i] = nil
			}
		}
		sink.Store(len(work))
	})
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.NumGC-before.NumGC)/float64(b.N), "GCs/op")
	b.ReportMetric(float64(news)/float64(b.N), "New/op")
}
