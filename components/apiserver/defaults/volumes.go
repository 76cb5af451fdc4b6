package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// volume applies SetDefaults_Volume and the defaults of each volume source,
// including the declarative ones (+default tags) of the legacy plugins.
func volume(v *corev1.Volume) {
	if noVolumeSource(&v.VolumeSource) {
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	src := &v.VolumeSource
	if src.HostPath != nil && src.HostPath.Type == nil {
		unset := corev1.HostPathUnset
		src.HostPath.Type = &unset
	}
	if src.Secret != nil {
		defaultMode(&src.Secret.DefaultMode, corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil {
		defaultMode(&src.ConfigMap.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if src.DownwardAPI != nil {
		defaultMode(&src.DownwardAPI.DefaultMode, corev1.DownwardAPIVolumeSourceDefaultMode)
		for i := range src.DownwardAPI.Items {
			fieldSelector(src.DownwardAPI.Items[i].FieldRef)
		}
	}
	if src.Projected != nil {
		projected(src.Projected)
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		spec := &src.Ephemeral.VolumeClaimTemplate.Spec
		if spec.VolumeMode == nil {
			mode := corev1.PersistentVolumeFilesystem
			spec.VolumeMode = &mode
		}
		roundResources(spec.Resources.Limits)
		roundResources(spec.Resources.Requests)
	}
	if src.Image != nil && src.Image.PullPolicy == "" {
		src.Image.PullPolicy = pullPolicy(src.Image.Reference)
	}
	legacyVolume(src)
}

func projected(p *corev1.ProjectedVolumeSource) {
	defaultMode(&p.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
	for i := range p.Sources {
		s := &p.Sources[i]
		if s.DownwardAPI != nil {
			for j := range s.DownwardAPI.Items {
				fieldSelector(s.DownwardAPI.Items[j].FieldRef)
			}
		}
		if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
			hour := int64(3600)
			s.ServiceAccountToken.ExpirationSeconds = &hour
		}
	}
}

// legacyVolume applies the declarative defaults of the in-tree plugins.
func legacyVolume(src *corev1.VolumeSource) {
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if rbd := src.RBD; rbd != nil {
		setString(&rbd.RBDPool, "rbd")
		setString(&rbd.RadosUser, "admin")
		setString(&rbd.Keyring, "/etc/ceph/keyring")
	}
	if az := src.AzureDisk; az != nil {
		if az.CachingMode == nil {
			mode := corev1.AzureDataDiskCachingReadWrite
			az.CachingMode = &mode
		}
		if az.FSType == nil {
			fs := "ext4"
			az.FSType = &fs
		}
		if az.ReadOnly == nil {
			ro := false
			az.ReadOnly = &ro
		}
		if az.Kind == nil {
			kind := corev1.AzureSharedBlobDisk
			az.Kind = &kind
		}
	}
	if sio := src.ScaleIO; sio != nil {
		setString(&sio.StorageMode, "ThinProvisioned")
		setString(&sio.FSType, "xfs")
	}
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func defaultMode(mode **int32, def int32) {
	if *mode == nil {
		m := def
		*mode = &m
	}
}

// noVolumeSource reports whether no source of a volume is set, in which case
// upstream makes it an emptyDir.
func noVolumeSource(s *corev1.VolumeSource) bool {
	return s.HostPath == nil && s.EmptyDir == nil && s.GCEPersistentDisk == nil &&
		s.AWSElasticBlockStore == nil && s.GitRepo == nil && s.Secret == nil && s.NFS == nil &&
		s.ISCSI == nil && s.Glusterfs == nil && s.PersistentVolumeClaim == nil && s.RBD == nil &&
		s.FlexVolume == nil && s.Cinder == nil && s.CephFS == nil && s.Flocker == nil &&
		s.DownwardAPI == nil && s.FC == nil && s.AzureFile == nil && s.ConfigMap == nil &&
		s.VsphereVolume == nil && s.Quobyte == nil && s.AzureDisk == nil &&
		s.PhotonPersistentDisk == nil && s.Projected == nil && s.PortworxVolume == nil &&
		s.ScaleIO == nil && s.StorageOS == nil && s.CSI == nil && s.Ephemeral == nil && s.Image == nil
}
