package volumes

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubelab/kubelab/components/kubelet/envvars"
)

// defaultMode is the file mode of projected files without one.
const defaultMode = 0o644

// payload is the files of a configMap, secret, downwardAPI or projected
// volume, and the plugin directory it lives in.
func (m *Manager) payload(ctx context.Context, dp envvars.Pod, v *corev1.Volume) (string, map[string]File, error) {
	src := v.VolumeSource
	out := map[string]File{}
	var err error
	switch {
	case src.ConfigMap != nil:
		s := src.ConfigMap
		err = m.configMapFiles(ctx, dp.Pod.Namespace, s.Name, s.Items, s.Optional, mode(s.DefaultMode), out)
		return "configmap", out, err
	case src.Secret != nil:
		s := src.Secret
		err = m.secretFiles(ctx, dp.Pod.Namespace, s.SecretName, s.Items, s.Optional, mode(s.DefaultMode), out)
		return "secret", out, err
	case src.DownwardAPI != nil:
		err = downwardFiles(dp, src.DownwardAPI.Items, mode(src.DownwardAPI.DefaultMode), out)
		return "downward-api", out, err
	}
	p := src.Projected
	def := mode(p.DefaultMode)
	for _, s := range p.Sources {
		switch {
		case s.ConfigMap != nil:
			err = m.configMapFiles(ctx, dp.Pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, def, out)
		case s.Secret != nil:
			err = m.secretFiles(ctx, dp.Pod.Namespace, s.Secret.Name, s.Secret.Items, s.Secret.Optional, def, out)
		case s.DownwardAPI != nil:
			err = downwardFiles(dp, s.DownwardAPI.Items, def, out)
		case s.ServiceAccountToken != nil:
			// Tokens come with the security work; the file is left out.
		}
		if err != nil {
			return "", nil, err
		}
	}
	return "projected", out, nil
}

func mode(m *int32) os.FileMode {
	if m == nil {
		return defaultMode
	}
	return os.FileMode(*m) & os.ModePerm
}

func (m *Manager) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode, out map[string]File) error {
	cm, err := m.Objects.ConfigMap(ctx, ns, name)
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("configmap %q not found", name)
		}
		return fmt.Errorf("get configmap %s: %w", name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return project("configmap", ns+"/"+name, data, items, optional, def, out)
}

func (m *Manager) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode, out map[string]File) error {
	s, err := m.Objects.Secret(ctx, ns, name)
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("secret %q not found", name)
		}
		return fmt.Errorf("get secret %s: %w", name, err)
	}
	return project("secret", ns+"/"+name, s.Data, items, optional, def, out)
}

// project adds data's keys (or only items, at their paths) to out.
func project(kind, ref string, data map[string][]byte, items []corev1.KeyToPath, optional *bool, def os.FileMode, out map[string]File) error {
	if len(items) == 0 {
		for k, v := range data {
			out[k] = File{Data: v, Mode: def}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return fmt.Errorf("%s references non-existent %s key: %s", ref, kind, it.Key)
		}
		out[it.Path] = File{Data: v, Mode: modeOr(it.Mode, def)}
	}
	return nil
}

func modeOr(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & os.ModePerm
}

// downwardFiles adds the downward API items to out.
func downwardFiles(dp envvars.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode, out map[string]File) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = envvars.FieldValue(dp, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			c := &corev1.Container{}
			if it.ResourceFieldRef.ContainerName == "" {
				return fmt.Errorf("downwardAPI %s: resourceFieldRef needs a containerName", it.Path)
			}
			v, err = envvars.ResourceValue(dp, c, it.ResourceFieldRef)
		}
		if err != nil {
			return fmt.Errorf("downwardAPI %s: %w", it.Path, err)
		}
		out[it.Path] = File{Data: []byte(v), Mode: modeOr(it.Mode, def)}
	}
	return nil
}
