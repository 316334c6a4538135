package validation

import (
	"net/netip"

	discoveryv1 "k8s.io/api/discovery/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds of an EndpointSlice.
const (
	maxTopologyLabels = 16
	maxAddresses      = 100
	maxPorts          = 100
	maxEndpoints      = 1000
)

var (
	supportedAddressTypes = sets.New(discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN)
	// The "IP" address type is deprecated: still valid for existing slices.
	deprecatedAddressTypes = sets.New(discoveryv1.AddressType("IP"))
)

func validateEndpointSlice(es *discoveryv1.EndpointSlice, validAddressTypes sets.Set[discoveryv1.AddressType]) field.ErrorList {
	allErrs := validateObjectMeta(&es.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	atPath := field.NewPath("addressType")
	if es.AddressType == "" {
		allErrs = append(allErrs, field.Required(atPath, ""))
	} else if !validAddressTypes.Has(es.AddressType) {
		allErrs = append(allErrs, field.NotSupported(atPath, es.AddressType, sets.List(validAddressTypes)))
	}
	allErrs = append(allErrs, validateSliceEndpoints(es.Endpoints, es.AddressType, field.NewPath("endpoints"))...)
	allErrs = append(allErrs, validateSlicePorts(es.Ports, field.NewPath("ports"))...)
	return allErrs
}

// validateEndpointSliceUpdate: the address type may not change.
func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&es.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateEndpointSlice(es, supportedAddressTypes.Union(deprecatedAddressTypes))...)
	return append(allErrs, validateImmutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

func validateSliceEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxEndpoints)}
	}
	var allErrs field.ErrorList
	for i, ep := range endpoints {
		p := fldPath.Index(i)
		addrPath := p.Child("addresses")
		if len(ep.Addresses) == 0 {
			allErrs = append(allErrs, field.Required(addrPath, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxAddresses {
			allErrs = append(allErrs, field.TooMany(addrPath, len(ep.Addresses), maxAddresses))
		}
		for j, addr := range ep.Addresses {
			ap := addrPath.Index(j)
			switch addrType {
			case "IP":
				allErrs = append(allErrs, validation.IsValidIP(ap, addr)...)
			case discoveryv1.AddressTypeIPv4:
				allErrs = append(allErrs, validateIPOfFamily(addr, true, ap)...)
			case discoveryv1.AddressTypeIPv6:
				allErrs = append(allErrs, validateIPOfFamily(addr, false, ap)...)
			case discoveryv1.AddressTypeFQDN:
				allErrs = append(allErrs, validation.IsFullyQualifiedDomainName(ap, addr)...)
			}
		}
		topoPath := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			allErrs = append(allErrs, field.TooMany(topoPath, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		allErrs = append(allErrs, metav1validation.ValidateLabels(ep.DeprecatedTopology, topoPath)...)
		if ep.Hostname != nil {
			allErrs = append(allErrs, validateDNS1123Label(*ep.Hostname, p.Child("hostname"))...)
		}
		if ep.NodeName != nil {
			allErrs = append(allErrs, validateName(apimachineryvalidation.NameIsDNSSubdomain, *ep.NodeName, p.Child("nodeName"))...)
		}
	}
	return allErrs
}

// validateIPOfFamily: a valid, non-special address of the slice's family.
func validateIPOfFamily(addr string, v4 bool, fldPath *field.Path) field.ErrorList {
	if errs := validation.IsValidIP(fldPath, addr); len(errs) != 0 {
		return errs
	}
	a, _ := netip.ParseAddr(addr)
	if v4 && !a.Is4() {
		return field.ErrorList{field.Invalid(fldPath, addr, "must be a valid IPv4 address")}
	}
	if !v4 && !a.Is6() {
		return field.ErrorList{field.Invalid(fldPath, addr, "must be a valid IPv6 address")}
	}
	return validateNonSpecialIP(addr, fldPath)
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxPorts)}
	}
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := fldPath.Index(i)
		var name string
		if port.Name != nil {
			name = *port.Name
		}
		if len(name) > 0 {
			allErrs = append(allErrs, validateDNS1123Label(name, p.Child("name"))...)
		}
		if names.Has(name) {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), name))
		} else {
			names.Insert(name)
		}
		if port.Protocol == nil {
			allErrs = append(allErrs, field.Required(p.Child("protocol"), ""))
		} else {
			allErrs = append(allErrs, validateProtocol(*port.Protocol, p.Child("protocol"))...)
		}
		if port.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*port.Port)) {
				allErrs = append(allErrs, field.Invalid(p.Child("port"), *port.Port, msg))
			}
		}
		if port.AppProtocol != nil {
			allErrs = append(allErrs, validateQualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return allErrs
}
