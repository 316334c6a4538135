package skiffv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeepCopyInto copies the receiver into out.
func (in *PolicyModule) DeepCopyInto(out *PolicyModule) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
}

// DeepCopy returns a copy of the receiver.
func (in *PolicyModule) DeepCopy() *PolicyModule {
	if in == nil {
		return nil
	}
	out := new(PolicyModule)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *PolicyModule) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies the receiver into out.
func (in *PolicyModuleSpec) DeepCopyInto(out *PolicyModuleSpec) {
	*out = *in
	if in.Wasm != nil {
		out.Wasm = append([]byte(nil), in.Wasm...)
	}
	if in.Hooks != nil {
		out.Hooks = append([]string(nil), in.Hooks...)
	}
}

// DeepCopyInto copies the receiver into out.
func (in *PolicyModuleList) DeepCopyInto(out *PolicyModuleList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]PolicyModule, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of the receiver.
func (in *PolicyModuleList) DeepCopy() *PolicyModuleList {
	if in == nil {
		return nil
	}
	out := new(PolicyModuleList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *PolicyModuleList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies the receiver into out.
func (in *SchedulingPolicy) DeepCopyInto(out *SchedulingPolicy) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a copy of the receiver.
func (in *SchedulingPolicy) DeepCopy() *SchedulingPolicy {
	if in == nil {
		return nil
	}
	out := new(SchedulingPolicy)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *SchedulingPolicy) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies the receiver into out.
func (in *SchedulingPolicySpec) DeepCopyInto(out *SchedulingPolicySpec) {
	*out = *in
	if in.Configuration != nil {
		out.Configuration = in.Configuration.DeepCopy()
	}
}

// DeepCopyInto copies the receiver into out.
func (in *SchedulingPolicyStatus) DeepCopyInto(out *SchedulingPolicyStatus) {
	*out = *in
	if in.History != nil {
		out.History = make([]ModuleRevision, len(in.History))
		for i := range in.History {
			in.History[i].DeepCopyInto(&out.History[i])
		}
	}
	if in.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
	if in.Shadow != nil {
		out.Shadow = new(ShadowStatus)
		in.Shadow.DeepCopyInto(out.Shadow)
	}
}

// DeepCopyInto copies the receiver into out.
func (in *ShadowStatus) DeepCopyInto(out *ShadowStatus) {
	*out = *in
	out.LastDisagreement = in.LastDisagreement.DeepCopy()
}

// DeepCopyInto copies the receiver into out.
func (in *ShadowDisagreement) DeepCopyInto(out *ShadowDisagreement) {
	*out = *in
	in.Time.DeepCopyInto(&out.Time)
}

// DeepCopy returns a copy of the receiver.
func (in *ShadowDisagreement) DeepCopy() *ShadowDisagreement {
	if in == nil {
		return nil
	}
	out := new(ShadowDisagreement)
	in.DeepCopyInto(out)
	return out
}

// DeepCopy returns a copy of the receiver.
func (in *ShadowStatus) DeepCopy() *ShadowStatus {
	if in == nil {
		return nil
	}
	out := new(ShadowStatus)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies the receiver into out.
func (in *ModuleRevision) DeepCopyInto(out *ModuleRevision) {
	*out = *in
	in.Time.DeepCopyInto(&out.Time)
}

// DeepCopyInto copies the receiver into out.
func (in *SchedulingPolicyList) DeepCopyInto(out *SchedulingPolicyList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]SchedulingPolicy, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of the receiver.
func (in *SchedulingPolicyList) DeepCopy() *SchedulingPolicyList {
	if in == nil {
		return nil
	}
	out := new(SchedulingPolicyList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *SchedulingPolicyList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopy returns a copy of the receiver.
func (in *PolicyModuleSpec) DeepCopy() *PolicyModuleSpec {
	if in == nil {
		return nil
	}
	out := new(PolicyModuleSpec)
	in.DeepCopyInto(out)
	return out
}
