// Command pooldiff runs histories against Go's own sync.Pool and prints what
// every Get returned, for `poolcheck go-diff` to compare with the Rust
// reference.
//
// Usage: pooldiff -slots K < histories
//
// Slots are Ps: the process runs with GOMAXPROCS(K), and an operation as
// slot k runs on a goroutine pinned (runtime.procPin, the pin sync.Pool
// itself uses) on P k. Background GC is off (debug.SetGCPercent(-1)), so the
// pool is cleaned only by the `cleanup` lines: runtime.GC() runs Go's
// poolCleanup once (primary to victim, old victim dropped).
//
// Input, one operation per line; a history ends with `end`:
//
//	pool NEW          a fresh pool; NEW is 1 if it has New, else 0
//	put SLOT TAG      Put(TAG) as slot SLOT
//	get SLOT TAG      Get() as SLOT on a pool with New; New returns TAG
//	tryget SLOT       Get() as SLOT, without New
//	cleanup           runtime.GC()
//	drain SLOT        Get() as SLOT, without New, until it returns nil
//	end               end of the history
//
// Output: one line per get / tryget (the tag, or `nil`), one line per
// drain (`drain` then the tags, then `nil`), `end` per history. A line
// starting with `error` (then exit 1) means the run cannot be trusted.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	slots int
	out   *bufio.Writer
	pool  *sync.Pool
	// What New returns: set by each `get` line before its Get.
	newTag int
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(out, "error "+format+"\n", args...)
	out.Flush()
	os.Exit(1)
}

// runAs runs op as slot k: on a goroutine pinned on P k, checking that it is
// still on P k when op has returned.
func runAs(k int, op func()) {
	if k < 0 || k >= slots {
		fail("slot %d out of range 0..%d", k, slots-1)
	}
	// The driver itself may already be on P k.
	if tryPinned(k, op) {
		return
	}
	// Else one goroutine per P, each sleeping a moment between looks at its
	// P until one of them is on P k: a timer's goroutine wakes up on
	// whichever P runs the timer, so they spread over the Ps far faster
	// than by runtime.Gosched (which puts them back on the queue of a P
	// that is already running).
	var claimed int32
	var wg sync.WaitGroup
	for i := 0; i < slots; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadInt32(&claimed) == 0 {
				if procPin() == k && atomic.CompareAndSwapInt32(&claimed, 0, 1) {
					doPinned(k, op)
					return
				}
				procUnpin()
				time.Sleep(time.Microsecond)
			}
		}()
	}
	wg.Wait()
}

// tryPinned runs op if the calling goroutine is on P k.
func tryPinned(k int, op func()) bool {
	if procPin() != k {
		procUnpin()
		return false
	}
	doPinned(k, op)
	return true
}

// doPinned runs op while pinned (the caller's pin), then unpins.
func doPinned(k int, op func()) {
	op()
	// Nested pin: still on P k, so the pool's own pin inside op was on P k.
	if after := procPin(); after != k {
		fail("operation as slot %d ended on P %d", k, after)
	}
	procUnpin()
	procUnpin()
}

// getAs is Get, with the pool's New or (tryget, drain) without it.
func getAs(withNew bool) interface{} {
	if withNew {
		return pool.Get()
	}
	saved := pool.New
	pool.New = nil
	x := pool.Get()
	pool.New = saved
	return x
}

func tagOf(x interface{}) string {
	if x == nil {
		return "nil"
	}
	t, ok := x.(int)
	if !ok {
		fail("pool returned a %T, not a tag", x)
	}
	return strconv.Itoa(t)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fail("bad number %q", s)
	}
	return n
}

func main() {
	flag.IntVar(&slots, "slots", 1, "slots (= GOMAXPROCS)")
	flag.Parse()
	out = bufio.NewWriterSize(os.Stdout, 1<<16)
	if slots < 1 || (slots > 1 && !canPin) {
		fail("cannot run %d slots (built without the runtime.procPin linkname: 1 slot only)", slots)
	}
	runtime.GOMAXPROCS(slots)
	// Only the `cleanup` lines collect.
	debug.SetGCPercent(-1)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	// Consecutive operations of one slot run in one pinned section: moving
	// to another P is what costs.
	var batch []func()
	batchSlot := -1
	flush := func() {
		if len(batch) > 0 {
			run := batch
			runAs(batchSlot, func() {
				for _, op := range run {
					op()
				}
			})
		}
		batch, batchSlot = nil, -1
	}
	as := func(k int, op func()) {
		if k != batchSlot {
			flush()
			batchSlot = k
		}
		batch = append(batch, op)
	}
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		need := map[string]int{"pool": 2, "put": 3, "get": 3, "tryget": 2, "cleanup": 1, "drain": 2, "end": 1}[f[0]]
		if need == 0 || len(f) != need {
			fail("bad line %q", in.Text())
		}
		switch f[0] {
		case "pool":
			flush()
			pool = &sync.Pool{}
			if f[1] == "1" {
				pool.New = func() interface{} { return newTag }
			}
		case "put":
			tag := atoi(f[2])
			as(atoi(f[1]), func() { pool.Put(tag) })
		case "get", "tryget":
			tag := -1
			if f[0] == "get" {
				tag = atoi(f[2])
			}
			withNew := f[0] == "get"
			as(atoi(f[1]), func() {
				newTag = tag
				out.WriteString(tagOf(getAs(withNew)) + "\n")
			})
		case "cleanup":
			flush()
			runtime.GC()
		case "drain":
			as(atoi(f[1]), func() {
				out.WriteString("drain")
				for {
					x := getAs(false)
					out.WriteString(" " + tagOf(x))
					if x == nil {
						break
					}
				}
				out.WriteString("\n")
			})
		case "end":
			flush()
			out.WriteString("end\n")
			// The caller may wait for each history's answer.
			out.Flush()
		default:
			fail("bad line %q", in.Text())
		}
	}
	flush()
	if err := in.Err(); err != nil {
		fail("reading stdin: %v", err)
	}
	out.Flush()
}
