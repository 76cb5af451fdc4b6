package validation

import (
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// validateVolumes validates the volumes of a pod spec and returns the valid
// ones by name, for the mounts to refer to.
func validateVolumes(volumes []corev1.Volume, podMeta *metav1.ObjectMeta, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	names := sets.New[string]()
	created := sets.New[string]()
	if podMeta != nil && podMeta.Name != "" {
		for _, v := range volumes {
			if v.Ephemeral != nil {
				created.Insert(podMeta.Name + "-" + v.Name)
			}
		}
	}
	valid := map[string]corev1.VolumeSource{}
	for i, v := range volumes {
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("name")
		el := validateVolumeSource(&v.VolumeSource, idxPath, v.Name, podMeta)
		if v.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, dnsLabel(v.Name, namePath)...)
		}
		if names.Has(v.Name) {
			el = append(el, field.Duplicate(namePath, v.Name))
		}
		if len(el) == 0 {
			names.Insert(v.Name)
			valid[v.Name] = v.VolumeSource
		} else {
			allErrs = append(allErrs, el...)
		}
		if v.PersistentVolumeClaim != nil && created.Has(v.PersistentVolumeClaim.ClaimName) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("persistentVolumeClaim").Child("claimName"), v.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return valid, allErrs
}

// volumeSourceField pairs a set volume source with its JSON name.
type volumeSourceField struct {
	name  string
	set   bool
	check func(*field.Path) field.ErrorList
}

// validateVolumeSource requires exactly one source and validates the
// common ones in detail; legacy in-tree plugins are only counted.
func validateVolumeSource(s *corev1.VolumeSource, fldPath *field.Path, volName string, podMeta *metav1.ObjectMeta) field.ErrorList {
	var allErrs field.ErrorList
	sources := []volumeSourceField{
		{"emptyDir", s.EmptyDir != nil, func(p *field.Path) field.ErrorList {
			if s.EmptyDir.SizeLimit != nil && s.EmptyDir.SizeLimit.Sign() < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{"hostPath", s.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(s.HostPath, p) }},
		{"gitRepo", s.GitRepo != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.GitRepo.Repository == "" {
				errs = append(errs, field.Required(p.Child("repository"), ""))
			}
			return append(errs, validateLocalDescendingPath(s.GitRepo.Directory, p.Child("directory"))...)
		}},
		{"gcePersistentDisk", s.GCEPersistentDisk != nil, nil},
		{"awsElasticBlockStore", s.AWSElasticBlockStore != nil, nil},
		{"secret", s.Secret != nil, func(p *field.Path) field.ErrorList {
			errs := required(s.Secret.SecretName, p.Child("secretName"))
			return append(errs, validateItems(s.Secret.DefaultMode, s.Secret.Items, p)...)
		}},
		{"nfs", s.NFS != nil, func(p *field.Path) field.ErrorList {
			errs := required(s.NFS.Server, p.Child("server"))
			errs = append(errs, required(s.NFS.Path, p.Child("path"))...)
			if !path.IsAbs(s.NFS.Path) {
				errs = append(errs, field.Invalid(p.Child("path"), s.NFS.Path, "must be an absolute path"))
			}
			return errs
		}},
		{"iscsi", s.ISCSI != nil, nil},
		{"glusterfs", s.Glusterfs != nil, nil},
		{"flocker", s.Flocker != nil, nil},
		{"persistentVolumeClaim", s.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			return required(s.PersistentVolumeClaim.ClaimName, p.Child("claimName"))
		}},
		{"rbd", s.RBD != nil, nil},
		{"cinder", s.Cinder != nil, nil},
		{"cephFS", s.CephFS != nil, nil},
		{"quobyte", s.Quobyte != nil, nil},
		// Upstream misspells this path in the error.
		{"downwarAPI", s.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			p = fldPath.Child("downwardAPI")
			errs := validateMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))
			for _, f := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIFile(&f, p)...)
			}
			return errs
		}},
		{"fc", s.FC != nil, nil},
		{"flexVolume", s.FlexVolume != nil, nil},
		{"configMap", s.ConfigMap != nil, func(p *field.Path) field.ErrorList {
			errs := required(s.ConfigMap.Name, p.Child("name"))
			return append(errs, validateItems(s.ConfigMap.DefaultMode, s.ConfigMap.Items, p)...)
		}},
		{"azureFile", s.AzureFile != nil, nil},
		{"vsphereVolume", s.VsphereVolume != nil, nil},
		{"photonPersistentDisk", s.PhotonPersistentDisk != nil, nil},
		{"portworxVolume", s.PortworxVolume != nil, nil},
		{"azureDisk", s.AzureDisk != nil, nil},
		{"storageos", s.StorageOS != nil, nil},
		{"projected", s.Projected != nil, func(p *field.Path) field.ErrorList { return validateProjected(s.Projected, p) }},
		{"scaleIO", s.ScaleIO != nil, nil},
		{"csi", s.CSI != nil, func(p *field.Path) field.ErrorList {
			if s.CSI.Driver == "" {
				return field.ErrorList{field.Required(p.Child("driver"), "")}
			}
			return dnsSubdomain(s.CSI.Driver, p.Child("driver"))
		}},
		{"ephemeral", s.Ephemeral != nil, func(p *field.Path) field.ErrorList {
			if s.Ephemeral.VolumeClaimTemplate == nil {
				return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
			}
			if podMeta != nil && podMeta.Name != "" && volName != "" {
				pvc := podMeta.Name + "-" + volName
				var errs field.ErrorList
				for _, msg := range nameIsDNSSubdomain(pvc, false) {
					errs = append(errs, field.Invalid(fldPath.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvc, msg)))
				}
				return errs
			}
			return nil
		}},
		{"image", s.Image != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if podMeta != nil && s.Image.Reference == "" {
				errs = append(errs, field.Required(p.Child("reference"), ""))
			}
			return append(errs, validatePullPolicy(s.Image.PullPolicy, p.Child("pullPolicy"))...)
		}},
	}
	n := 0
	for _, src := range sources {
		if !src.set {
			continue
		}
		if n > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(src.name), "may not specify more than 1 volume type"))
			continue
		}
		n++
		if src.check != nil {
			allErrs = append(allErrs, src.check(fldPath.Child(src.name))...)
		}
	}
	if n == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a volume type"))
	}
	return allErrs
}

func required(value string, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return nil
}

var supportedHostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev, corev1.HostPathDirectory,
	corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket,
}

func validateHostPath(hp *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	allErrs := validatePathNoBacksteps(hp.Path, fldPath.Child("path"))
	if hp.Type != nil {
		known := false
		for _, t := range supportedHostPathTypes {
			known = known || *hp.Type == t
		}
		if !known {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), hp.Type, supportedHostPathTypes))
		}
	}
	return allErrs
}

func validateMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

// validateItems validates the mode and key-to-path items of a secret or
// config map volume.
func validateItems(mode *int32, items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	allErrs := validateMode(mode, fldPath.Child("defaultMode"))
	for i := range items {
		allErrs = append(allErrs, validateKeyToPath(&items[i], fldPath.Child("items").Index(i))...)
	}
	return allErrs
}

func validateKeyToPath(kp *corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	allErrs := required(kp.Key, fldPath.Child("key"))
	allErrs = append(allErrs, required(kp.Path, fldPath.Child("path"))...)
	allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, fldPath.Child("path"))...)
	return append(allErrs, validateMode(kp.Mode, fldPath.Child("mode"))...)
}

func validateDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	allErrs := required(f.Path, fldPath.Child("path"))
	allErrs = append(allErrs, validateLocalNonReservedPath(f.Path, fldPath.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		allErrs = append(allErrs, validateObjectFieldSelector(f.FieldRef, validVolumeFieldPaths, fldPath.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		allErrs = append(allErrs, validateResourceFieldSelector(f.ResourceFieldRef, true, fldPath.Child("resourceFieldRef"))...)
	default:
		allErrs = append(allErrs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(allErrs, validateMode(f.Mode, fldPath.Child("mode"))...)
}

func validateProjected(p *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateMode(p.DefaultMode, fldPath.Child("defaultMode"))
	paths := sets.New[string]()
	dup := func(pth string, value interface{}) {
		if paths.Has(pth) {
			allErrs = append(allErrs, field.Invalid(fldPath, value, "conflicting duplicate paths"))
		}
		paths.Insert(pth)
	}
	for i, src := range p.Sources {
		n := 0
		srcPath := fldPath.Child("sources").Index(i)
		if src.Secret != nil {
			n++
			sp := srcPath.Child("secret")
			allErrs = append(allErrs, required(src.Secret.Name, sp.Child("name"))...)
			for j := range src.Secret.Items {
				allErrs = append(allErrs, validateKeyToPath(&src.Secret.Items[j], sp.Child("items").Index(j))...)
				if src.Secret.Items[j].Path != "" {
					dup(src.Secret.Items[j].Path, src.Secret.Name)
				}
			}
		}
		if src.ConfigMap != nil {
			n++
			cp := srcPath.Child("configMap")
			allErrs = append(allErrs, required(src.ConfigMap.Name, cp.Child("name"))...)
			for j := range src.ConfigMap.Items {
				allErrs = append(allErrs, validateKeyToPath(&src.ConfigMap.Items[j], cp.Child("items").Index(j))...)
				if src.ConfigMap.Items[j].Path != "" {
					dup(src.ConfigMap.Items[j].Path, src.ConfigMap.Name)
				}
			}
		}
		if src.DownwardAPI != nil {
			n++
			for _, f := range src.DownwardAPI.Items {
				allErrs = append(allErrs, validateDownwardAPIFile(&f, srcPath.Child("downwardAPI"))...)
				if f.Path != "" {
					dup(f.Path, f.Path)
				}
			}
		}
		if t := src.ServiceAccountToken; t != nil {
			n++
			tp := srcPath.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 10*60 {
				allErrs = append(allErrs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds > 1<<32 {
				allErrs = append(allErrs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
			}
			if t.Path == "" {
				allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
			} else {
				allErrs = append(allErrs, validateLocalNonReservedPath(t.Path, fldPath.Child("path"))...)
			}
		}
		if src.ClusterTrustBundle != nil {
			n++
		}
		if src.PodCertificate != nil {
			n++
		}
		if n > 1 {
			allErrs = append(allErrs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return allErrs
}
