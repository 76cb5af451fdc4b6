package nodelifecycle

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func seconds(s int64) *int64 { return &s }

func TestSyncEviction(t *testing.T) {
	unreachable := func(added *time.Time) corev1.Taint {
		tt := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
		if added != nil {
			ta := metav1.NewTime(*added)
			tt.TimeAdded = &ta
		}
		return tt
	}
	tolerate := func(s *int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	tenAgo, longAgo := t0.Add(-10*time.Second), t0.Add(-301*time.Second)
	for _, tc := range []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		deleting    bool
		wantEvicted bool
	}{
		{"no NoExecute taint", []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoSchedule}}, nil, false, false},
		{"not tolerated: evicted at once", []corev1.Taint{unreachable(&tenAgo)}, nil, false, true},
		{"tolerated for 300s, tainted 10s ago", []corev1.Taint{unreachable(&tenAgo)}, []corev1.Toleration{tolerate(seconds(300))}, false, false},
		{"tolerated for 300s, tainted 301s ago", []corev1.Taint{unreachable(&longAgo)}, []corev1.Toleration{tolerate(seconds(300))}, false, true},
		{"tolerated forever", []corev1.Taint{unreachable(&longAgo)}, []corev1.Toleration{tolerate(nil)}, false, false},
		{"zero seconds", []corev1.Taint{unreachable(&tenAgo)}, []corev1.Toleration{tolerate(seconds(0))}, false, true},
		{"one of two taints untolerated", []corev1.Taint{unreachable(&tenAgo), {Key: "other", Effect: corev1.TaintEffectNoExecute}},
			[]corev1.Toleration{tolerate(nil)}, false, true},
		{"already being deleted", []corev1.Taint{unreachable(&tenAgo)}, nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := readyPod("p", "a", tc.tolerations...)
			if tc.deleting {
				now := metav1.NewTime(t0)
				pod.DeletionTimestamp = &now
				pod.Finalizers = []string{"keep"}
			}
			c, client, _ := newTestController(t, readyNode("a", corev1.ConditionUnknown, t0, tc.taints...), pod)
			if err := c.syncEviction(t.Context(), "ns/p"); err != nil {
				t.Fatal(err)
			}
			got, err := client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{})
			evicted := apierrors.IsNotFound(err)
			if evicted != tc.wantEvicted {
				t.Fatalf("evicted = %v (err %v), want %v", evicted, err, tc.wantEvicted)
			}
			if !evicted && !tc.deleting {
				for _, c := range got.Status.Conditions {
					if c.Type == corev1.DisruptionTarget {
						t.Fatal("DisruptionTarget set on a pod that stays")
					}
				}
			}
		})
	}
}

func TestEvictionMarksDisruptionTarget(t *testing.T) {
	pod := readyPod("p", "a")
	pod.Finalizers = []string{"keep"} // so the fake API keeps it after delete
	c, client, _ := newTestController(t, readyNode("a", corev1.ConditionFalse, t0,
		corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}), pod)
	if err := c.syncEviction(t.Context(), "ns/p"); err != nil {
		t.Fatal(err)
	}
	var patched, deleted bool
	for _, a := range client.Actions() {
		switch {
		case a.GetVerb() == "patch" && a.GetSubresource() == "status":
			patched = true
		case a.GetVerb() == "delete" && a.GetResource().Resource == "pods":
			deleted = true
		}
	}
	if !patched || !deleted {
		t.Fatalf("patched=%v deleted=%v, want both", patched, deleted)
	}
}

func TestTaintWithoutTimeAddedCountsFromFirstSight(t *testing.T) {
	c, client, clk := newTestController(t,
		readyNode("a", corev1.ConditionUnknown, t0, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}),
		readyPod("p", "a", corev1.Toleration{Operator: corev1.TolerationOpExists, TolerationSeconds: seconds(5)}))
	if err := c.syncEviction(t.Context(), "ns/p"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{}); err != nil {
		t.Fatalf("evicted before its toleration ran out: %v", err)
	}
	clk.now = t0.Add(6 * time.Second)
	if err := c.syncEviction(t.Context(), "ns/p"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("not evicted after its toleration: %v", err)
	}
}

func TestMinTolerationTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []corev1.Toleration
		want time.Duration
	}{
		{"none used", nil, 0},
		{"forever", []corev1.Toleration{{}}, -1},
		{"least wins", []corev1.Toleration{{TolerationSeconds: seconds(300)}, {TolerationSeconds: seconds(30)}, {}}, 30 * time.Second},
		{"negative is zero", []corev1.Toleration{{TolerationSeconds: seconds(-5)}}, 0},
	} {
		if got := minTolerationTime(tc.in); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
