package printers

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// This file holds the resources whose tables are a count or a name:
// namespaces, configmaps, secrets, service accounts and leases.

// NamespaceColumns are the columns of `kubectl get namespaces`.
var NamespaceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "The status of the namespace"),
	ageColumn,
}

// NamespaceRow returns the cells of a namespace.
func NamespaceRow(ns *corev1.Namespace) []interface{} {
	return []interface{}{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp)}
}

// NamespaceFields returns the fields a namespace field selector may use,
// including the legacy "name" upstream keeps for compatibility.
func NamespaceFields(ns *corev1.Namespace) fields.Set {
	return fields.Set{"status.phase": string(ns.Status.Phase), "name": ns.Name}
}

// ConfigMapColumns are the columns of `kubectl get configmaps`.
var ConfigMapColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
	ageColumn,
}

// ConfigMapRow returns the cells of a configmap; DATA counts data and
// binaryData keys.
func ConfigMapRow(cm *corev1.ConfigMap) []interface{} {
	return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp)}
}

// SecretColumns are the columns of `kubectl get secrets`.
var SecretColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
	column("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
	ageColumn,
}

// SecretRow returns the cells of a secret.
func SecretRow(s *corev1.Secret) []interface{} {
	return []interface{}{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp)}
}

// SecretFields returns the fields a secret field selector may use.
func SecretFields(s *corev1.Secret) fields.Set {
	return fields.Set{"type": string(s.Type)}
}

// ServiceAccountColumns are the columns of `kubectl get serviceaccounts` as
// a v1.33 server prints them (v1.34 dropped the Secrets column).
var ServiceAccountColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
	ageColumn,
}

// ServiceAccountRow returns the cells of a service account.
func ServiceAccountRow(sa *corev1.ServiceAccount) []interface{} {
	return []interface{}{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp)}
}

// LeaseColumns are the columns of `kubectl get leases`.
var LeaseColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
	ageColumn,
}

// LeaseRow returns the cells of a lease; HOLDER is empty when nobody holds it.
func LeaseRow(l *coordinationv1.Lease) []interface{} {
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return []interface{}{l.Name, holder, age(l.CreationTimestamp)}
}
