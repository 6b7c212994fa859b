//go:build !nolinkname
// +build !nolinkname

package main

import _ "unsafe" // for go:linkname

// The runtime's own pin, the one sync.Pool uses (as sync.runtime_procPin):
// it disables preemption and returns the id of the P the goroutine runs on.
// Pins nest (a counter), so Pool.Get and Pool.Put pinning again inside ours
// stay on the same P.

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// canPin: procPin reports the real P, so several slots can be run.
const canPin = true
