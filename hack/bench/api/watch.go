package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// watchLatency starts cfg.watchers pod watchers on nsWatch, each over its
// own client, creates cfg.watchWrites pods there at cfg.watchRate, and
// measures for every (write, watcher) pair the time from the write's
// response reaching its client to the watcher receiving the ADDED event
// (decoded, from client-go's result channel).
func (b *bench) watchLatency(ctx context.Context, base *rest.Config) (result, error) {
	c := b.cfg
	n := c.watchWrites
	list, err := b.clients[0].CoreV1().Pods(nsWatch).List(ctx, metav1.ListOptions{})
	if err != nil {
		return result{}, fmt.Errorf("list %s: %w", nsWatch, err)
	}
	watchClients, err := newClients(base, c.watchers, c.sharedTransport)
	if err != nil {
		return result{}, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()

	recv := make([][]time.Time, c.watchers)
	var complete, exited sync.WaitGroup
	var watchErrs atomic.Int64
	var firstWatchErr atomic.Value
	for w := range c.watchers {
		wi, err := watchClients[w].CoreV1().Pods(nsWatch).Watch(wctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			return result{}, fmt.Errorf("watcher %d: %w", w, err)
		}
		recv[w] = make([]time.Time, n)
		complete.Add(1)
		exited.Go(func() {
			defer wi.Stop()
			got, signalled := 0, false
			defer func() {
				if !signalled {
					complete.Done()
				}
			}()
			for ev := range wi.ResultChan() {
				t := time.Now()
				if ev.Type == watch.Error {
					watchErrs.Add(1)
					firstWatchErr.CompareAndSwap(nil, fmt.Sprint(ev.Object))
					continue
				}
				pod, ok := ev.Object.(*corev1.Pod)
				if ev.Type != watch.Added || !ok {
					continue
				}
				i, ok := writeIndex(pod.Name, n)
				if !ok || !recv[w][i].IsZero() {
					continue
				}
				recv[w][i] = t
				if got++; got == n {
					signalled = true
					complete.Done()
					return
				}
			}
		})
	}

	sent, resp := make([]time.Time, n), make([]time.Time, n)
	var writeErrs atomic.Int64
	var firstErr atomic.Value
	var interval time.Duration
	if c.watchRate > 0 {
		interval = time.Duration(float64(time.Second) / c.watchRate)
	}
	sem := make(chan struct{}, len(b.clients))
	start := time.Now()
	var writes sync.WaitGroup
	for i := range n {
		if interval > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
		sem <- struct{}{}
		writes.Go(func() {
			defer func() { <-sem }()
			cs := b.clients[i%len(b.clients)]
			sent[i] = time.Now()
			_, err := cs.CoreV1().Pods(nsWatch).Create(ctx, newPod(nsWatch, fmt.Sprintf("w-%06d", i)), metav1.CreateOptions{})
			resp[i] = time.Now()
			if err != nil {
				writeErrs.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	writes.Wait()
	allDone := make(chan struct{})
	go func() { complete.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(30 * time.Second):
		fmt.Fprintln(b.progress, "watch: not every event arrived within 30s of the last write")
	case <-ctx.Done():
	}
	cancel()
	exited.Wait()
	r := watchResult(recv, sent, resp, start, n, c, writeErrs.Load(), watchErrs.Load(), firstErr.Load())
	if e := firstWatchErr.Load(); e != nil {
		r.notes = append(r.notes, fmt.Sprintf("first watch error: %s", e))
	}
	return r, nil
}

// writeIndex parses the index of a watch-phase pod name w-NNNNNN.
func writeIndex(name string, n int) (int, bool) {
	s, ok := strings.CutPrefix(name, "w-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < n
}

func watchResult(recv [][]time.Time, sent, resp []time.Time, start time.Time, n int, c config, writeErrs, watchErrs int64, firstErr any) result {
	r := result{phase: "watch", errors: int(writeErrs)}
	if err, ok := firstErr.(error); ok {
		r.err = err
	}
	var fromSent []time.Duration
	var last time.Time
	missing, early := 0, 0
	for w := range recv {
		for i, t := range recv[w] {
			if t.IsZero() || resp[i].IsZero() {
				missing++
				continue
			}
			if t.After(last) {
				last = t
			}
			d := t.Sub(resp[i])
			if d < 0 {
				early++
				d = 0
			}
			r.lat = append(r.lat, d)
			fromSent = append(fromSent, t.Sub(sent[i]))
		}
	}
	slices.Sort(r.lat)
	slices.Sort(fromSent)
	r.ops = len(r.lat)
	r.elapsed = last.Sub(start)
	rate := "as fast as possible"
	if c.watchRate > 0 {
		rate = fmt.Sprintf("at %.0f/s", c.watchRate)
	}
	r.notes = append(r.notes,
		fmt.Sprintf("%d watchers x %d pod creates (%s, up to %d in flight); ops/s counts deliveries", len(recv), n, rate, c.clients),
		fmt.Sprintf("%d of %d deliveries missing, %d watch errors", missing, len(recv)*n, watchErrs),
		fmt.Sprintf("%.1f%% of events arrived before their write's response (counted as 0)", 100*float64(early)/float64(max(1, r.ops))),
		fmt.Sprintf("from the write's request start instead: p50 %s, p99 %s",
			ms(result{lat: fromSent}.percentile(0.50)), ms(result{lat: fromSent}.percentile(0.99))))
	return r
}
