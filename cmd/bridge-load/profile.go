package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

// profiles are the optional execution trace and the heap profile taken
// under load (-trace, -heapprofile-at), started with the load.
type profiles struct {
	traceFile *os.File
	heapTimer *time.Timer
	heapErr   chan error
}

// startProfiles starts what o asks for; stop ends it and reports the
// first error.
func startProfiles(o options) (*profiles, error) {
	p := &profiles{}
	if o.traceFile != "" {
		f, err := os.Create(o.traceFile)
		if err != nil {
			return nil, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("starting the trace: %w", err)
		}
		p.traceFile = f
	}
	if o.memProfile != "" && o.heapAt > 0 {
		p.heapErr = make(chan error, 1)
		p.heapTimer = time.AfterFunc(o.heapAt, func() { p.heapErr <- writeHeapProfile(o.memProfile) })
	}
	return p, nil
}

// stopTrace ends the execution trace, if any.
func (p *profiles) stopTrace() error {
	if p.traceFile == nil {
		return nil
	}
	trace.Stop()
	err := p.traceFile.Close()
	p.traceFile = nil
	return err
}

// heapDone waits for the heap profile taken under load, if one was asked
// for; taken says whether it was (the run may have ended first).
func (p *profiles) heapDone() (taken bool, err error) {
	if p.heapTimer == nil {
		return false, nil
	}
	if p.heapTimer.Stop() {
		return false, nil // the run ended before the profile was due
	}
	return true, <-p.heapErr
}

// writeHeapProfile writes the allocation profile: everything allocated
// since the start (-sample_index=alloc_space) and what is in use now
// (inuse_space).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// startCPUProfile writes a CPU profile of this process to path until the
// returned func is called; with path "" it does nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
