package framework

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// maxLogBytes bounds each container log a dump fetches.
const maxLogBytes = 1 << 20

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// SpecArtifactsDir is the artifacts directory of the current spec:
// <ArtifactsDir>/<spec text with unsafe characters replaced>.
func SpecArtifactsDir() string {
	name := unsafeChars.ReplaceAllString(ginkgo.CurrentSpecReport().FullText(), "_")
	name = strings.Trim(name, "_")
	if len(name) > 150 {
		name = name[:150]
	}
	return filepath.Join(TestContext.ArtifactsDir, name)
}

// DumpNamespace writes what explains a failure in namespace ns: a summary
// of each pod and the namespace's events to GinkgoWriter, and into dir
// (created; "" skips the files) pods.yaml (the full objects), events.txt,
// nodes.txt and <pod>_<container>.log (with <...>.previous.log for
// restarted containers). Errors are logged, never fatal: a dump must not
// hide the failure it explains.
func DumpNamespace(ctx context.Context, c kubernetes.Interface, ns, dir string) {
	w := ginkgo.GinkgoWriter
	fmt.Fprintf(w, "\n===== dump of namespace %s (artifacts: %s) =====\n", ns, dir)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(w, "create %s: %v\n", dir, err)
			dir = ""
		}
	}
	write := func(name string, data []byte) {
		if dir == "" {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			fmt.Fprintf(w, "write %s: %v\n", name, err)
		}
	}

	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "list pods: %v\n", err)
	} else {
		fmt.Fprintf(w, "--- %d pods\n", len(pods.Items))
		for i := range pods.Items {
			fmt.Fprintf(w, "%s\n", PodSummary(&pods.Items[i]))
		}
		if data, err := yaml.Marshal(pods); err == nil {
			write("pods.yaml", data)
		}
	}

	events, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "list events: %v\n", err)
	} else {
		text := formatEvents(events.Items)
		fmt.Fprintf(w, "--- %d events\n%s", len(events.Items), text)
		write("events.txt", []byte(text))
	}

	if nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		var b strings.Builder
		for i := range nodes.Items {
			fmt.Fprintf(&b, "%s\n", nodeSummary(&nodes.Items[i]))
		}
		fmt.Fprintf(w, "--- nodes\n%s", b.String())
		write("nodes.txt", []byte(b.String()))
	}

	if pods == nil {
		return
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
			dumpLog(ctx, c, w, write, pod, cs.Name, false)
			if cs.RestartCount > 0 {
				dumpLog(ctx, c, w, write, pod, cs.Name, true)
			}
		}
	}
	fmt.Fprintf(w, "===== end of dump of namespace %s =====\n", ns)
}

func dumpLog(ctx context.Context, c kubernetes.Interface, w io.Writer, write func(string, []byte), pod *corev1.Pod, container string, previous bool) {
	limit := int64(maxLogBytes)
	data, err := c.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: container, Previous: previous, LimitBytes: &limit,
	}).DoRaw(ctx)
	which := "log"
	if previous {
		which = "previous log"
	}
	if err != nil {
		fmt.Fprintf(w, "--- %s of %s/%s: %v\n", which, pod.Name, container, err)
		return
	}
	fmt.Fprintf(w, "--- %s of %s/%s (%d bytes)\n%s\n", which, pod.Name, container, len(data), tail(string(data), 40))
	name := pod.Name + "_" + container
	if previous {
		name += ".previous"
	}
	write(unsafeChars.ReplaceAllString(name, "_")+".log", data)
}

// formatEvents lists events oldest first, one a line.
func formatEvents(events []corev1.Event) string {
	sort.SliceStable(events, func(i, j int) bool { return eventTime(&events[i]).Time.Before(eventTime(&events[j]).Time) })
	var b strings.Builder
	for i := range events {
		e := &events[i]
		src := e.Source.Component
		if src == "" {
			src = e.ReportingController
		}
		fmt.Fprintf(&b, "%s %s %s/%s %s (%s, x%d): %s\n", eventTime(e).Format("15:04:05"), e.Type,
			strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, e.Reason, src, max(e.Count, 1), e.Message)
	}
	return b.String()
}

func eventTime(e *corev1.Event) metav1.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time{Time: e.EventTime.Time}
	}
	return e.CreationTimestamp
}

func nodeSummary(n *corev1.Node) string {
	ready := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = string(c.Status)
		}
	}
	var taints []string
	for _, t := range n.Spec.Taints {
		taints = append(taints, t.Key+":"+string(t.Effect))
	}
	return fmt.Sprintf("%s ready=%s unschedulable=%v taints=%v", n.Name, ready, n.Spec.Unschedulable, taints)
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) <= lines {
		return strings.Join(parts, "\n")
	}
	return fmt.Sprintf("[... %d lines ...]\n%s", len(parts)-lines, strings.Join(parts[len(parts)-lines:], "\n"))
}
