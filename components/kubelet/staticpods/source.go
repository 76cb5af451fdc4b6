// Package staticpods runs pods from manifest files: the kubelet reads a
// directory of YAML (or JSON) pod manifests, runs each pod on its node
// (a changed manifest is a new pod, so the old one is stopped and the new
// one started) and mirrors it into the API as a mirror pod.
package staticpods

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
	"github.com/kubelab/kubelab/components/kubelet/pods"
)

// Source reads the manifests of Dir every Interval and hands the pods to
// OnPods whenever the set changed.
type Source struct {
	Dir      string
	NodeName string
	// Interval is how often the directory is read (5s).
	Interval time.Duration
	OnPods   func([]*corev1.Pod)
}

// Run reads the directory until ctx ends; the first read happens before
// Run returns to the caller's loop, so the first OnPods call comes first.
func (s *Source) Run(ctx context.Context) {
	if s.Interval <= 0 {
		s.Interval = 5 * time.Second
	}
	log := slog.Default().With("component", "static-pods", "dir", s.Dir)
	var last string
	bad := map[string]string{}
	for {
		list, errs := Load(s.Dir, s.NodeName)
		for _, err := range errs {
			var me *manifestError
			if errors.As(err, &me) && bad[me.file] == err.Error() {
				continue
			}
			if errors.As(err, &me) {
				bad[me.file] = err.Error()
			}
			log.Warn("static pod manifest skipped", "err", err)
		}
		key := fingerprint(list)
		if key != last {
			last = key
			log.Info("static pods", "count", len(list))
			s.OnPods(list)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.Interval):
		}
	}
}

func fingerprint(list []*corev1.Pod) string {
	var b strings.Builder
	for _, p := range list {
		b.WriteString(string(p.UID))
		b.WriteByte(',')
	}
	return b.String()
}

// manifestError is a manifest that cannot be used.
type manifestError struct {
	file string
	err  error
}

// Error names the file and what is wrong.
func (e *manifestError) Error() string { return fmt.Sprintf("%s: %v", e.file, e.err) }

// Load reads every manifest of dir (files ending in .yaml, .yml or .json,
// not hidden) into pods for node; bad manifests are reported and skipped.
// A missing directory holds no pods.
func Load(dir, node string) ([]*corev1.Pod, []error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("read static pod directory: %w", err)}
	}
	var out []*corev1.Pod
	var errs []error
	names := map[string]string{}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") ||
			!(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".json")) {
			continue
		}
		path := filepath.Join(dir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, &manifestError{path, err})
			continue
		}
		pod, err := Decode(data, node, path)
		if err != nil {
			errs = append(errs, &manifestError{path, err})
			continue
		}
		key := pod.Namespace + "/" + pod.Name
		if other, dup := names[key]; dup {
			errs = append(errs, &manifestError{path, fmt.Errorf("pod %s is also defined in %s", key, other)})
			continue
		}
		names[key] = path
		out = append(out, pod)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errs
}

// Decode turns a manifest into the static pod node runs, as upstream: the
// name gets "-<node>" appended, the namespace defaults to "default", the
// API's defaults are applied, the pod tolerates every NoExecute taint,
// and its uid (also its config hash) is derived from the manifest and the
// node, so an unchanged manifest is the same pod across kubelet restarts.
func Decode(data []byte, node, source string) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		if err2 := yaml.Unmarshal(data, &pod); err2 != nil {
			return nil, fmt.Errorf("decode pod manifest: %w", err2)
		}
	}
	if pod.Kind != "" && pod.Kind != "Pod" {
		return nil, fmt.Errorf("kind %q: a static pod manifest holds one Pod", pod.Kind)
	}
	if pod.Name == "" {
		return nil, fmt.Errorf("the pod has no name")
	}
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.Name = pod.Name + "-" + strings.ToLower(node)
	pod.Spec.NodeName = node
	defaults.Pod(&pod)
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	sum := sha256.Sum256(append(append([]byte(node+"\n"), data...), source...))
	hash := hex.EncodeToString(sum[:16])
	pod.UID = types.UID(hash)
	pod.ResourceVersion = hash
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[pods.AnnotationConfigSource] = "file"
	pod.Annotations[pods.AnnotationConfigHash] = hash
	pod.Annotations[pods.AnnotationConfigSeen] = time.Now().UTC().Format(time.RFC3339Nano)
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	return &pod, nil
}
