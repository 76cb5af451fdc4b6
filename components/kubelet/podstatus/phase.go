package podstatus

import (
	corev1 "k8s.io/api/core/v1"
)

// Phase is the pod's phase given its init and regular container statuses,
// following upstream's kubelet: Pending until the init containers are done
// and every container started; Running while one runs (or all restart);
// Succeeded or Failed once all stopped and none will restart. terminal is
// set once the kubelet decided the pod will not run again (it is being
// deleted), so stopped containers make it Succeeded or Failed whatever the
// restart policy.
func Phase(pod *corev1.Pod, initStatuses, statuses []corev1.ContainerStatus, terminal bool) corev1.PodPhase {
	spec := &pod.Spec
	pendingInit, failedInit := 0, 0
	var unknown, running, waiting, stopped, succeeded int
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		cs := find(initStatuses, c.Name)
		if IsRestartable(c) {
			switch {
			case cs == nil:
				unknown++
			case cs.State.Running != nil:
				if cs.Started == nil || !*cs.Started {
					pendingInit++
				}
				running++
			case cs.State.Terminated != nil:
			case cs.State.Waiting != nil && cs.LastTerminationState.Terminated == nil:
				pendingInit++
				waiting++
			case cs.State.Waiting != nil:
			default:
				pendingInit++
				unknown++
			}
			continue
		}
		switch {
		case cs == nil, cs.State.Running != nil:
			pendingInit++
		case cs.State.Terminated != nil:
			if cs.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			if cs.LastTerminationState.Terminated.ExitCode != 0 {
				failedInit++
			}
		default:
			pendingInit++
		}
	}
	for _, c := range spec.Containers {
		cs := find(statuses, c.Name)
		switch {
		case cs == nil:
			unknown++
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
		case cs.State.Waiting != nil:
			waiting++
		default:
			unknown++
		}
	}
	if failedInit > 0 && spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	s := corev1.PodStatus{ContainerStatuses: statuses}
	switch {
	case pendingInit > 0 && !anyRegularStarted(pod, &s), waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if terminal {
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
		switch {
		case spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}
