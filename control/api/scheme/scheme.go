// Package scheme is the type registry of Skiff's API: every group-version
// Skiff serves, the meta.k8s.io types its responses carry (Status, Table,
// WatchEvent, PartialObjectMetadata, options), and the serializers for
// JSON, YAML and Kubernetes protobuf built on it.
package scheme

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
)

// Scheme knows every type Skiff serves or answers with.
var Scheme = runtime.NewScheme()

// Codecs are the serializers over Scheme.
var Codecs serializer.CodecFactory

// ParameterCodec decodes query parameters into option structs
// (metav1.ListOptions, DeleteOptions, ...).
var ParameterCodec runtime.ParameterCodec

// Served serializers, shared and safe for concurrent use.
var (
	JSON       *json.Serializer // compact JSON, lenient: unknown fields dropped
	StrictJSON *json.Serializer // JSON that reports unknown and duplicate fields
	YAML       *json.Serializer
	StrictYAML *json.Serializer
	Protobuf   *protobuf.Serializer
)

// The group-versions Skiff serves.
var (
	CoreV1         = corev1.SchemeGroupVersion
	AppsV1         = appsv1.SchemeGroupVersion
	AutoscalingV1  = autoscalingv1.SchemeGroupVersion
	DiscoveryV1    = discoveryv1.SchemeGroupVersion
	EventsV1       = eventsv1.SchemeGroupVersion
	CoordinationV1 = coordinationv1.SchemeGroupVersion
	MetaV1         = metav1.SchemeGroupVersion
	// SkiffV1Alpha1 is Skiff's own group (policy modules and scheduling
	// policies); its types have no protobuf encoding.
	SkiffV1Alpha1 = skiffv1alpha1.SchemeGroupVersion
)

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv1.AddToScheme,
		discoveryv1.AddToScheme, eventsv1.AddToScheme, coordinationv1.AddToScheme,
		metav1.AddMetaToScheme, metav1beta1.AddMetaToScheme, skiffv1alpha1.AddToScheme,
	} {
		utilruntime.Must(add(Scheme))
	}
	// Option types (ListOptions, DeleteOptions, ...) and WatchEvent for the
	// meta group itself and as unversioned types.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	metav1.AddToGroupVersion(Scheme, MetaV1)
	Codecs = serializer.NewCodecFactory(Scheme)
	ParameterCodec = runtime.NewParameterCodec(Scheme)
	mf := json.DefaultMetaFactory
	JSON = json.NewSerializerWithOptions(mf, Scheme, Scheme, json.SerializerOptions{})
	StrictJSON = json.NewSerializerWithOptions(mf, Scheme, Scheme, json.SerializerOptions{Strict: true})
	YAML = json.NewSerializerWithOptions(mf, Scheme, Scheme, json.SerializerOptions{Yaml: true})
	StrictYAML = json.NewSerializerWithOptions(mf, Scheme, Scheme, json.SerializerOptions{Yaml: true, Strict: true})
	Protobuf = protobuf.NewSerializer(Scheme, Scheme)
}

// SetKind fills obj's apiVersion and kind from the scheme (objects built in
// Go carry an empty TypeMeta). It reports false for unknown types.
func SetKind(obj runtime.Object) bool {
	gvks, _, err := Scheme.ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		return false
	}
	obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	return true
}
