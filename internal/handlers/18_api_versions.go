package handlers

// ApiVersions (key 18).
//
// v1 added throttle time; v3 (KIP-511) is flexible and carries the client's
// software name and version; v4 only signals that the client understands
// UNSUPPORTED_VERSION answered with v0. A request at a version we do not
// speak gets a v0 response with UNSUPPORTED_VERSION and our version table,
// so the client can retry with one we do.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleApiVersions(h *Handlers, _ context.Context, rc *reqContext, req *kmsg.ApiVersionsRequest) *kmsg.ApiVersionsResponse {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if !h.Supports(18, rc.hdr.APIVersion) {
		resp.SetVersion(0)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	}
	for _, a := range h.apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.minVersion, a.maxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	sort.Slice(resp.ApiKeys, func(i, j int) bool { return resp.ApiKeys[i].ApiKey < resp.ApiKeys[j].ApiKey })
	return resp
}
