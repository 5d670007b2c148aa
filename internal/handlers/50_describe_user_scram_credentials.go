package handlers

// DescribeUserScramCredentials (key 50, KIP-554).
//
// v0 is flexible. No users (null or empty) describes every user; each
// result lists the user's mechanisms and iterations, never salts or keys.
// As in Kafka, a user named twice gets DUPLICATE_RESOURCE and an unknown
// one RESOURCE_NOT_FOUND, each on its own result.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
)

func handleDescribeUserScramCredentials(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.DescribeUserSCRAMCredentialsRequest) *kmsg.DescribeUserSCRAMCredentialsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	img := h.image()
	users := img.ScramUsers()
	seen := map[string]int{}
	if len(req.Users) > 0 {
		users = users[:0]
		for _, u := range req.Users {
			seen[u.Name]++
			users = append(users, u.Name)
		}
	}
	emitted := map[string]bool{}
	for _, name := range users {
		if emitted[name] {
			continue // one result per user, duplicates included
		}
		emitted[name] = true
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = name
		creds := img.ScramCredentials(name)
		var err error
		switch {
		case seen[name] > 1:
			err = newRequestError(kerr.DuplicateResource, "cannot describe SCRAM credentials for the same user twice in a single request")
		case len(creds) == 0:
			err = fmt.Errorf("%w: attempt to describe a user credential that does not exist", controller.ErrScramCredentialNotFound)
		}
		if err != nil {
			r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		}
		for _, c := range creds {
			if err != nil {
				break
			}
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = c.Mechanism.KafkaType(), int32(c.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, ci)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}
