package validation

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of an EndpointSlice.
const (
	maxSliceEndpoints     = 1000
	maxEndpointAddresses  = 100
	maxSlicePorts         = 100
	maxTopologyLabels     = 16
	maxEndpointHintsZones = 8
)

// ValidateEndpoints validates endpoints: every subset has addresses, every
// address is a valid, non-special IP, every port is valid (and named when
// there are several).
func ValidateEndpoints(e *corev1.Endpoints) field.ErrorList {
	allErrs := validateObjectMeta(&e.ObjectMeta, true, nameIsDNSSubdomain)
	subsetsPath := field.NewPath("subsets")
	for i := range e.Subsets {
		ss := &e.Subsets[i]
		p := subsetsPath.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			allErrs = append(allErrs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.Addresses[j], p.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.NotReadyAddresses[j], p.Child("notReadyAddresses").Index(j))...)
		}
		for j := range ss.Ports {
			allErrs = append(allErrs, validateEndpointPort(&ss.Ports[j], len(ss.Ports) > 1, p.Child("ports").Index(j))...)
		}
	}
	return allErrs
}

// ValidateEndpointsUpdate validates an update of endpoints.
func ValidateEndpointsUpdate(e, old *corev1.Endpoints) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&e.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, ValidateEndpoints(e)...)
}

func validateEndpointAddress(a *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	allErrs := utilvalidation.IsValidIP(fldPath.Child("ip"), a.IP)
	if a.Hostname != "" {
		allErrs = append(allErrs, dnsLabel(a.Hostname, fldPath.Child("hostname"))...)
	}
	if a.NodeName != nil {
		allErrs = append(allErrs, nameErrors(nameIsDNSSubdomain, *a.NodeName, fldPath.Child("nodeName"))...)
	}
	return append(allErrs, validateNonSpecialIP(a.IP, fldPath.Child("ip"))...)
}

func validateEndpointPort(port *corev1.EndpointPort, requireName bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if requireName && port.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else if port.Name != "" {
		allErrs = append(allErrs, dnsLabel(port.Name, fldPath.Child("name"))...)
	}
	allErrs = append(allErrs, portNum(port.Port, fldPath.Child("port"))...)
	allErrs = append(allErrs, protocol(port.Protocol, fldPath.Child("protocol"))...)
	if port.AppProtocol != nil {
		allErrs = append(allErrs, qualifiedName(*port.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return allErrs
}

var supportedAddressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}

// ValidateEndpointSlice validates an endpoint slice: a known address type,
// 1-100 addresses of that type per endpoint, and valid ports. A nil port
// name or protocol counts as "" and TCP, their discovery/v1 defaults.
func ValidateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateObjectMeta(&s.ObjectMeta, true, nameIsDNSSubdomain)
	typePath := field.NewPath("addressType")
	switch s.AddressType {
	case "":
		allErrs = append(allErrs, field.Required(typePath, ""))
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		allErrs = append(allErrs, field.NotSupported(typePath, s.AddressType, supportedAddressTypes))
	}
	allErrs = append(allErrs, validateSliceEndpoints(s.Endpoints, s.AddressType, field.NewPath("endpoints"))...)
	return append(allErrs, validateSlicePorts(s.Ports, field.NewPath("ports"))...)
}

// ValidateEndpointSliceUpdate validates an update of an endpoint slice; its
// address type is immutable.
func ValidateEndpointSliceUpdate(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, ValidateEndpointSlice(s)...)
	return append(allErrs, immutable(s.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

func validateSliceEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxSliceEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxSliceEndpoints)}
	}
	var allErrs field.ErrorList
	for i, ep := range endpoints {
		p := fldPath.Index(i)
		addrPath := p.Child("addresses")
		if len(ep.Addresses) == 0 {
			allErrs = append(allErrs, field.Required(addrPath, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxEndpointAddresses {
			allErrs = append(allErrs, field.TooMany(addrPath, len(ep.Addresses), maxEndpointAddresses))
		}
		for j, a := range ep.Addresses {
			allErrs = append(allErrs, validateSliceAddress(a, addrType, addrPath.Index(j))...)
		}
		topo := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			allErrs = append(allErrs, field.TooMany(topo, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		allErrs = append(allErrs, metav1validation.ValidateLabels(ep.DeprecatedTopology, topo)...)
		if ep.NodeName != nil {
			allErrs = append(allErrs, nameErrors(nameIsDNSSubdomain, *ep.NodeName, p.Child("nodeName"))...)
		}
		if ep.Hostname != nil {
			allErrs = append(allErrs, dnsLabel(*ep.Hostname, p.Child("hostname"))...)
		}
		if ep.Hints != nil {
			hp := p.Child("hints", "forZones")
			if len(ep.Hints.ForZones) > maxEndpointHintsZones {
				allErrs = append(allErrs, field.TooMany(hp, len(ep.Hints.ForZones), maxEndpointHintsZones))
			}
			zones := sets.New[string]()
			for j, z := range ep.Hints.ForZones {
				if zones.Has(z.Name) {
					allErrs = append(allErrs, field.Duplicate(hp.Index(j).Child("name"), z.Name))
				}
				zones.Insert(z.Name)
			}
		}
	}
	return allErrs
}

func validateSliceAddress(a string, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	switch addrType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		if errs := utilvalidation.IsValidIP(fldPath, a); len(errs) != 0 {
			return errs
		}
		addr, _ := netip.ParseAddr(a)
		if addrType == discoveryv1.AddressTypeIPv4 && !addr.Is4() {
			return field.ErrorList{field.Invalid(fldPath, a, "must be an IPv4 address")}
		}
		if addrType == discoveryv1.AddressTypeIPv6 && !addr.Is6() {
			return field.ErrorList{field.Invalid(fldPath, a, "must be an IPv6 address")}
		}
		return validateNonSpecialIP(a, fldPath)
	case discoveryv1.AddressTypeFQDN:
		return utilvalidation.IsFullyQualifiedDomainName(fldPath, a)
	}
	return nil
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxSlicePorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxSlicePorts)}
	}
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := fldPath.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			allErrs = append(allErrs, dnsLabel(name, p.Child("name"))...)
		}
		if names.Has(name) {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), name))
		} else {
			names.Insert(name)
		}
		if port.Protocol != nil {
			switch *port.Protocol {
			case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
			default:
				allErrs = append(allErrs, field.NotSupported(p.Child("protocol"), *port.Protocol, supportedProtocols))
			}
		}
		if port.AppProtocol != nil {
			allErrs = append(allErrs, qualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return allErrs
}
