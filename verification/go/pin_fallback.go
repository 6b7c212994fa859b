//go:build nolinkname
// +build nolinkname

package main

// Built with -tags nolinkname, for a Go that refuses the linkname to
// runtime.procPin: no way to know or choose the P, so one slot only
// (GOMAXPROCS(1): every goroutine runs on P 0).

func procPin() int { return 0 }

func procUnpin() {}

const canPin = false
