package printers

import (
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
)

// This file holds the workload controllers: replication controllers,
// replica sets, deployments, daemon sets and jobs. Their descriptions come
// from the same (partly legacy) types upstream reads them from.

// ReplicationControllerColumns are the columns of `kubectl get rc`.
var ReplicationControllerColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"]),
	column("Current", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["replicas"]),
	column("Ready", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn,
}, containerColumns(corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"])...)

// ReplicationControllerRow returns the cells of a replication controller.
func ReplicationControllerRow(rc *corev1.ReplicationController) []interface{} {
	var containers []corev1.Container
	if rc.Spec.Template != nil {
		containers = rc.Spec.Template.Spec.Containers
	}
	names, images := containerCells(containers)
	return []interface{}{
		rc.Name,
		int64(int32Or(rc.Spec.Replicas, 1)),
		int64(rc.Status.Replicas),
		int64(rc.Status.ReadyReplicas),
		age(rc.CreationTimestamp),
		names, images, labels.FormatLabels(rc.Spec.Selector),
	}
}

// ReplicationControllerFields returns the fields a replication controller
// field selector may use.
func ReplicationControllerFields(rc *corev1.ReplicationController) fields.Set {
	return fields.Set{"status.replicas": strconv.Itoa(int(rc.Status.Replicas))}
}

// ReplicaSetColumns are the columns of `kubectl get replicasets`.
var ReplicaSetColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
	column("Current", "integer", extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
	column("Ready", "integer", extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn,
}, containerColumns(extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["selector"])...)

// ReplicaSetRow returns the cells of a replica set.
func ReplicaSetRow(rs *appsv1.ReplicaSet) []interface{} {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []interface{}{
		rs.Name,
		int64(int32Or(rs.Spec.Replicas, 1)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

// ReplicaSetFields returns the fields a replica set field selector may use.
func ReplicaSetFields(rs *appsv1.ReplicaSet) fields.Set {
	return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
}

// DeploymentColumns are the columns of `kubectl get deployments`.
var DeploymentColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	column("Ready", "string", "Number of the pod with ready state"),
	column("Up-to-date", "string", extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
	column("Available", "string", extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
	ageColumn,
}, containerColumns(extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"])...)

// DeploymentRow returns the cells of a deployment; READY is "ready/desired".
func DeploymentRow(d *appsv1.Deployment) []interface{} {
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []interface{}{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, int32Or(d.Spec.Replicas, 1)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(d.CreationTimestamp),
		names, images, selector,
	}
}

// DaemonSetColumns are the columns of `kubectl get daemonsets`.
var DaemonSetColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]),
	column("Current", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]),
	column("Ready", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]),
	column("Up-to-date", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]),
	column("Available", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]),
	column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
	ageColumn,
}, containerColumns(extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"])...)

// DaemonSetRow returns the cells of a daemon set.
func DaemonSetRow(ds *appsv1.DaemonSet) []interface{} {
	st := ds.Status
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []interface{}{
		ds.Name,
		int64(st.DesiredNumberScheduled),
		int64(st.CurrentNumberScheduled),
		int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled),
		int64(st.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		age(ds.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}

// JobColumns are the columns of `kubectl get jobs`.
var JobColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "Status of the job."),
	column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
	column("Duration", "string", "Time required to complete the job."),
	ageColumn,
}, containerColumns(batchv1.JobSpec{}.SwaggerDoc()["selector"])...)

// JobRow returns the cells of a job: STATUS from its conditions,
// COMPLETIONS as "succeeded/completions" (or "succeeded/1 of parallelism"
// for work queues), DURATION from start to completion or to now.
func JobRow(job *batchv1.Job) []interface{} {
	names, images := containerCells(job.Spec.Template.Spec.Containers)
	return []interface{}{
		job.Name,
		jobStatus(job),
		jobCompletions(job),
		jobDuration(job),
		age(job.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(job.Spec.Selector),
	}
}

// JobFields returns the fields a job field selector may use.
func JobFields(job *batchv1.Job) fields.Set {
	return fields.Set{"status.successful": strconv.Itoa(int(job.Status.Succeeded))}
}

func jobCompletions(job *batchv1.Job) string {
	if job.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	}
	if p := int32Or(job.Spec.Parallelism, 0); p > 1 {
		return fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, p)
	}
	return fmt.Sprintf("%d/1", job.Status.Succeeded)
}

func jobDuration(job *batchv1.Job) string {
	switch {
	case job.Status.StartTime == nil:
		return ""
	case job.Status.CompletionTime == nil:
		return duration.HumanDuration(time.Since(job.Status.StartTime.Time))
	default:
		return duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
	}
}

func jobStatus(job *batchv1.Job) string {
	switch {
	case hasJobCondition(job, batchv1.JobComplete):
		return "Complete"
	case hasJobCondition(job, batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case hasJobCondition(job, batchv1.JobSuspended):
		return "Suspended"
	case hasJobCondition(job, batchv1.JobFailureTarget):
		return "FailureTarget"
	case hasJobCondition(job, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	default:
		return "Running"
	}
}

// hasJobCondition reports whether the first condition of type t is True.
func hasJobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
