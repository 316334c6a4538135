package apiserver

import (
	"encoding/json"
	"net/http"
)

// status is metav1.Status as JSON: what Kubernetes clients expect of every
// error response.
type status struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   map[string]string `json:"metadata"`
	Status     string            `json:"status"`
	Message    string            `json:"message"`
	Reason     string            `json:"reason"`
	Code       int               `json:"code"`
}

// writeStatus answers with a Failure Status of the given code and reason
// (Kubernetes' StatusReason words: Unauthorized, NotFound, ...).
func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(status{
		Kind: "Status", APIVersion: "v1", Metadata: map[string]string{},
		Status: "Failure", Message: message, Reason: reason, Code: code,
	})
}
