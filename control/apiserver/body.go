package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/control/api/scheme"
)

// MaxBodyBytes is the largest request body accepted, as kube-apiserver's
// default (3 MiB).
const MaxBodyBytes = 3 << 20

type bodyLimitKey struct{}

// withBodyLimit sets a resource's own body limit (registry.Resource.MaxBodyBytes)
// on the request.
func withBodyLimit(r *http.Request, limit int) *http.Request {
	if limit <= 0 {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), bodyLimitKey{}, limit))
}

// bodyLimit is the request's body limit: MaxBodyBytes unless its resource
// sets another.
func bodyLimit(r *http.Request) int {
	if n, ok := r.Context().Value(bodyLimitKey{}).(int); ok {
		return n
	}
	return MaxBodyBytes
}

// readBody reads the request body up to its limit (MaxBodyBytes unless
// the resource sets another); larger is a 413.
func readBody(r *http.Request) ([]byte, error) {
	limit := bodyLimit(r)
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	if len(body) > limit {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	return body, nil
}

// fieldValidation is the request's fieldValidation directive: Strict (unknown
// and duplicate fields are a 400), Warn (they are warnings, the default) or
// Ignore.
func fieldValidation(r *http.Request) (string, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return metav1.FieldValidationWarn, nil
	case metav1.FieldValidationStrict, metav1.FieldValidationWarn, metav1.FieldValidationIgnore:
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn, Strict, got %q", v))
	}
}

// decodeBody decodes body, of the given media type, as an object of kind
// want. Unknown and duplicate fields fail under Strict and come back as
// warnings under Warn.
func decodeBody(body []byte, contentType string, want schema.GroupVersionKind, into runtime.Object, validation string) (runtime.Object, []string, error) {
	media := mediaJSON
	if contentType != "" {
		m, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, nil, unsupportedMediaType(contentType)
		}
		media = m
	}
	var dec runtime.Decoder
	strict := validation != metav1.FieldValidationIgnore
	switch media {
	case mediaJSON:
		dec = scheme.JSON
		if strict {
			dec = scheme.StrictJSON
		}
	case mediaYAML:
		dec = scheme.YAML
		if strict {
			dec = scheme.StrictYAML
		}
	case mediaProtobuf:
		dec = scheme.Protobuf
	default:
		return nil, nil, unsupportedMediaType(contentType)
	}
	cannot := func(err error) error {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", want.Kind, want.Version, want.Kind, err))
	}
	obj, gvk, err := dec.Decode(body, &want, into)
	var warnings []string
	if err != nil {
		strictErr, ok := runtime.AsStrictDecodingError(err)
		if !ok || obj == nil || validation == metav1.FieldValidationStrict {
			return nil, nil, cannot(err)
		}
		for _, e := range strictErr.Errors() {
			warnings = append(warnings, strings.TrimPrefix(e.Error(), "strict decoding error: "))
		}
	}
	if gvk == nil || gvk.Kind != want.Kind || gvk.Group != want.Group {
		got := "none"
		if gvk != nil {
			got = fmt.Sprintf("%s, %s", gvk.Kind, gvk.GroupVersion())
		}
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the body (%s) does not match the kind of the URL (%s, %s)", got, want.Kind, want.GroupVersion()))
	}
	if gvk.Version != want.Version {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), want.GroupVersion()))
	}
	return obj, warnings, nil
}

// unsupportedMediaType is a 415 for a body of a type Skiff does not read.
func unsupportedMediaType(mediaType string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", mediaType),
	}}
}
