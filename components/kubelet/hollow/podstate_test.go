package hollow

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCueOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		ann  map[string]string
		want cue
	}{
		{"none", nil, cue{}},
		{"exit code only", map[string]string{AnnotationExitCode: "2"}, cue{exits: true, code: 2}},
		{"run seconds only", map[string]string{AnnotationRunSeconds: "1.5"}, cue{exits: true, run: 1500 * time.Millisecond}},
		{"both", map[string]string{AnnotationExitCode: "1", AnnotationRunSeconds: "2"}, cue{exits: true, code: 1, run: 2 * time.Second}},
		{"ready after", map[string]string{AnnotationReadyAfterSeconds: "3"}, cue{readyAfter: 3 * time.Second}},
		{"malformed ignored", map[string]string{AnnotationExitCode: "x", AnnotationRunSeconds: "-1", AnnotationReadyAfterSeconds: "y"}, cue{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cueOf(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: tc.ann}})
			if got != tc.want {
				t.Fatalf("cueOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAdvance(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	base, maxBackoff := 10*time.Second, 40*time.Second
	crash := cue{exits: true, code: 1, run: time.Second}
	for _, tc := range []struct {
		name         string
		c            cue
		policy       corev1.RestartPolicy
		now          float64
		wantRestarts int32
		wantWaiting  bool
		wantFinished bool
		wantNext     float64 // seconds after t0; -1 for none
	}{
		{"runs forever", cue{}, corev1.RestartPolicyAlways, 100, 0, false, false, -1},
		{"before exit", crash, corev1.RestartPolicyNever, 0.5, 0, false, false, 1},
		{"never: finished", crash, corev1.RestartPolicyNever, 1, 0, false, true, -1},
		{"onfailure success finishes", cue{exits: true, run: time.Second}, corev1.RestartPolicyOnFailure, 5, 0, false, true, -1},
		// Exit at 1: immediate restart; exit at 2: wait 10s until 12;
		// exit at 13: wait 20s until 33; exit at 34: wait 40s (max).
		{"first restart immediate", crash, corev1.RestartPolicyAlways, 1.5, 1, false, false, 2},
		{"second exit backs off base", crash, corev1.RestartPolicyAlways, 5, 1, true, false, 12},
		{"restarted after base", crash, corev1.RestartPolicyAlways, 12.5, 2, false, false, 13},
		{"backoff doubles", crash, corev1.RestartPolicyAlways, 20, 2, true, false, 33},
		{"backoff capped", crash, corev1.RestartPolicyAlways, 40, 3, true, false, 74},
		{"always restarts success too", cue{exits: true, run: time.Second}, corev1.RestartPolicyAlways, 1.5, 1, false, false, 2},
		{"ready delay wakes", cue{readyAfter: 3 * time.Second}, corev1.RestartPolicyAlways, 1, 0, false, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &podRuntime{started: t0, runStart: t0}
			next := r.advance(tc.c, tc.policy, at(tc.now), base, maxBackoff)
			if r.restarts != tc.wantRestarts || !r.waitUntil.IsZero() != tc.wantWaiting || r.finished != tc.wantFinished {
				t.Fatalf("restarts=%d waiting=%v finished=%v, want %d %v %v", r.restarts, !r.waitUntil.IsZero(), r.finished,
					tc.wantRestarts, tc.wantWaiting, tc.wantFinished)
			}
			switch {
			case tc.wantNext < 0 && !next.IsZero():
				t.Fatalf("next = %v, want none", next.Sub(t0))
			case tc.wantNext >= 0 && !next.Equal(at(tc.wantNext)):
				t.Fatalf("next = %v, want %vs", next.Sub(t0), tc.wantNext)
			}
		})
	}
}

func TestAdvanceIsStepIndependent(t *testing.T) {
	// Advancing in small steps ends where one big step does.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := cue{exits: true, code: 1, run: 500 * time.Millisecond}
	stepped := &podRuntime{runStart: t0}
	for now := t0; now.Before(t0.Add(time.Minute)); now = now.Add(100 * time.Millisecond) {
		stepped.advance(c, corev1.RestartPolicyAlways, now, time.Second, 8*time.Second)
	}
	once := &podRuntime{runStart: t0}
	end := t0.Add(time.Minute).Add(-100 * time.Millisecond)
	stepped.advance(c, corev1.RestartPolicyAlways, end, time.Second, 8*time.Second)
	once.advance(c, corev1.RestartPolicyAlways, end, time.Second, 8*time.Second)
	if stepped.restarts != once.restarts || !stepped.waitUntil.Equal(once.waitUntil) || stepped.backoff != once.backoff {
		t.Fatalf("stepped %+v, once %+v", stepped, once)
	}
}

func TestKill(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	running := &podRuntime{runStart: t0}
	running.kill(t0.Add(time.Minute))
	if !running.finished || running.last.code != 0 || !running.last.finished.Equal(t0.Add(time.Minute)) {
		t.Fatalf("killed running pod: %+v %+v", running, running.last)
	}
	waiting := &podRuntime{runStart: t0, waitUntil: t0.Add(time.Hour), last: &termination{code: 7}}
	waiting.kill(t0.Add(time.Minute))
	if !waiting.finished || waiting.last.code != 7 {
		t.Fatalf("killed waiting pod keeps its last exit: %+v", waiting.last)
	}
}
