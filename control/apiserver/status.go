package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writeStatus answers with a Failure Status of the given code and reason
// (Kubernetes' StatusReason words: Unauthorized, NotFound, ...).
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, message string) {
	writeStatusObject(w, &metav1.Status{
		Status: metav1.StatusFailure, Message: message, Reason: reason, Code: int32(code),
	})
}

// writeError answers err as a Status: status errors as they are, anything
// else as a 500 (whose message is logged by the caller, not hidden).
func writeError(w http.ResponseWriter, err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	s := st.Status()
	writeStatusObject(w, &s)
}

func writeStatusObject(w http.ResponseWriter, s *metav1.Status) {
	s.APIVersion, s.Kind = "v1", "Status"
	if s.Code == 0 {
		s.Code = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(s.Code))
	_ = json.NewEncoder(w).Encode(s)
}
