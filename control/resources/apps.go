package resources

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/registry"
)

func apps() []*registry.Resource {
	gv := appsv1.SchemeGroupVersion

	deploy := base(gv.WithKind("Deployment"), "deployments", "deployment", true,
		func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &appsv1.DeploymentList{} })
	deploy.ShortNames = []string{"deploy"}
	deploy.Categories = []string{"all"}
	deploy.Status = true
	deploy.Generation = true
	deploy.PrepareForCreate = func(obj runtime.Object) { obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{} }

	rs := base(gv.WithKind("ReplicaSet"), "replicasets", "replicaset", true,
		func() runtime.Object { return &appsv1.ReplicaSet{} }, func() runtime.Object { return &appsv1.ReplicaSetList{} })
	rs.ShortNames = []string{"rs"}
	rs.Categories = []string{"all"}
	rs.Status = true
	rs.Generation = true
	rs.PrepareForCreate = func(obj runtime.Object) { obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{} }

	return []*registry.Resource{deploy, rs}
}
