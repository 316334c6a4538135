package validation

import (
	"path"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// validateVolumes returns the well-formed volumes by name, for the mounts to
// refer to, and the errors of the others.
func validateVolumes(volumes []corev1.Volume, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	vols := make(map[string]corev1.VolumeSource)
	for i, vol := range volumes {
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("name")
		el := validateVolumeSource(&vol.VolumeSource, idxPath)
		if len(vol.Name) == 0 {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, validateDNS1123Label(vol.Name, namePath)...)
		}
		if _, dup := vols[vol.Name]; dup {
			el = append(el, field.Duplicate(namePath, vol.Name))
		}
		if len(el) == 0 {
			vols[vol.Name] = vol.VolumeSource
		} else {
			allErrs = append(allErrs, el...)
		}
	}
	return vols, allErrs
}

// validateVolumeSource requires exactly one volume type and checks the
// sources a node can mount. The other types are counted but not inspected.
func validateVolumeSource(source *corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	numVolumes := 0
	v := reflect.ValueOf(source).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name := jsonName(t.Field(i))
		if numVolumes > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(name), "may not specify more than 1 volume type"))
			continue
		}
		numVolumes++
		allErrs = append(allErrs, validateVolumeSourceDetail(source, name, fldPath.Child(name))...)
	}
	if numVolumes == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a volume type"))
	}
	return allErrs
}

func validateVolumeSourceDetail(source *corev1.VolumeSource, name string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch name {
	case "emptyDir":
		if sl := source.EmptyDir.SizeLimit; sl != nil && quantityOutOfRange(*sl) {
			allErrs = append(allErrs, validateQuantityRange(*sl, fldPath.Child("sizeLimit"))...)
		} else if sl != nil && sl.Cmp(resource.Quantity{}) < 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	case "hostPath":
		hp := source.HostPath
		if len(hp.Path) == 0 {
			return field.ErrorList{field.Required(fldPath.Child("path"), "")}
		}
		allErrs = append(allErrs, validatePathNoBacksteps(hp.Path, fldPath.Child("path"))...)
		if hp.Type != nil && !supportedHostPathTypes.Has(*hp.Type) {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), hp.Type, sets.List(supportedHostPathTypes)))
		}
	case "gitRepo":
		if len(source.GitRepo.Repository) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Child("repository"), ""))
		}
		allErrs = append(allErrs, validateLocalDescendingPath(source.GitRepo.Directory, fldPath.Child("directory"))...)
	case "secret":
		s := source.Secret
		if len(s.SecretName) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Child("secretName"), ""))
		}
		allErrs = append(allErrs, validateFileMode(s.DefaultMode, fldPath.Child("defaultMode"))...)
		for i := range s.Items {
			allErrs = append(allErrs, validateKeyToPath(&s.Items[i], fldPath.Child("items").Index(i))...)
		}
	case "configMap":
		c := source.ConfigMap
		if len(c.Name) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
		}
		allErrs = append(allErrs, validateFileMode(c.DefaultMode, fldPath.Child("defaultMode"))...)
		for i := range c.Items {
			allErrs = append(allErrs, validateKeyToPath(&c.Items[i], fldPath.Child("items").Index(i))...)
		}
	case "persistentVolumeClaim":
		if len(source.PersistentVolumeClaim.ClaimName) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Child("claimName"), ""))
		}
	case "nfs":
		n := source.NFS
		if len(n.Server) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Child("server"), ""))
		}
		if len(n.Path) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
		}
		if !path.IsAbs(n.Path) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), n.Path, "must be an absolute path"))
		}
	case "downwardAPI":
		d := source.DownwardAPI
		allErrs = append(allErrs, validateFileMode(d.DefaultMode, fldPath.Child("defaultMode"))...)
		for _, file := range d.Items {
			if len(file.Path) == 0 {
				allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
			}
			allErrs = append(allErrs, validateLocalNonReservedPath(file.Path, fldPath.Child("path"))...)
			allErrs = append(allErrs, validateFileMode(file.Mode, fldPath.Child("mode"))...)
		}
	case "projected":
		p := source.Projected
		allErrs = append(allErrs, validateFileMode(p.DefaultMode, fldPath.Child("defaultMode"))...)
		for i, src := range p.Sources {
			n := 0
			for _, set := range []bool{src.Secret != nil, src.ConfigMap != nil, src.DownwardAPI != nil,
				src.ServiceAccountToken != nil, src.ClusterTrustBundle != nil, src.PodCertificate != nil} {
				if set {
					n++
				}
			}
			if n > 1 {
				allErrs = append(allErrs, field.Forbidden(fldPath.Child("sources").Index(i), "may not specify more than 1 volume type per source"))
			}
		}
	}
	return allErrs
}

var supportedHostPathTypes = sets.New(
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
	corev1.HostPathCharDev, corev1.HostPathBlockDev)

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateKeyToPath(kp *corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(kp.Key) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("key"), ""))
	}
	if len(kp.Path) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	}
	allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, fldPath.Child("path"))...)
	allErrs = append(allErrs, validateFileMode(kp.Mode, fldPath.Child("mode"))...)
	return allErrs
}

// validateLocalDescendingPath: relative, and without ".." elements.
func validateLocalDescendingPath(target string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if path.IsAbs(target) {
		allErrs = append(allErrs, field.Invalid(fldPath, target, "must be a relative path"))
	}
	return append(allErrs, validatePathNoBacksteps(target, fldPath)...)
}

func validatePathNoBacksteps(target string, fldPath *field.Path) field.ErrorList {
	for _, item := range strings.Split(target, "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fldPath, target, "must not contain '..'")}
		}
	}
	return nil
}

func validateLocalNonReservedPath(target string, fldPath *field.Path) field.ErrorList {
	allErrs := validateLocalDescendingPath(target, fldPath)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		allErrs = append(allErrs, field.Invalid(fldPath, target, "must not start with '..'"))
	}
	return allErrs
}

// validateVolumeMounts requires each mount to name a volume of the pod and
// to have a unique mount path.
func validateVolumeMounts(mounts []corev1.VolumeMount, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	mountPoints := sets.New[string]()
	for i, mnt := range mounts {
		p := fldPath.Index(i)
		if len(mnt.Name) == 0 {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		}
		if _, ok := vols[mnt.Name]; !ok {
			allErrs = append(allErrs, field.NotFound(p.Child("name"), mnt.Name))
		}
		if len(mnt.MountPath) == 0 {
			allErrs = append(allErrs, field.Required(p.Child("mountPath"), ""))
		}
		if mountPoints.Has(mnt.MountPath) {
			allErrs = append(allErrs, field.Invalid(p.Child("mountPath"), mnt.MountPath, "must be unique"))
		}
		mountPoints.Insert(mnt.MountPath)
		// Kubernetes reports sub-path errors at the list's path, not the item's.
		if len(mnt.SubPath) > 0 {
			allErrs = append(allErrs, validateLocalDescendingPath(mnt.SubPath, fldPath.Child("subPath"))...)
		}
		if len(mnt.SubPathExpr) > 0 {
			if len(mnt.SubPath) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("subPathExpr"), mnt.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			allErrs = append(allErrs, validateLocalDescendingPath(mnt.SubPathExpr, fldPath.Child("subPathExpr"))...)
		}
		if mp := mnt.MountPropagation; mp != nil {
			switch *mp {
			case corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone:
			default:
				allErrs = append(allErrs, field.NotSupported(fldPath.Child("mountPropagation"), *mp, []corev1.MountPropagationMode{
					corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}))
			}
		}
	}
	return allErrs
}

// validateProbe checks a liveness or startup probe (successThreshold must be
