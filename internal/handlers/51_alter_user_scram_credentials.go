package handlers

// AlterUserScramCredentials (key 51, KIP-554).
//
// v0 is flexible. Clients send salted passwords (the salt, the iteration
// count and Hi(password)), never the password; the broker derives and
// stores StoredKey and ServerKey, forwarded to the controller like every
// metadata write. The response has one result per user, as in Kafka:
// DUPLICATE_RESOURCE when the request names the same user and mechanism
// twice, RESOURCE_NOT_FOUND for deleting a credential that does not exist,
// UNSUPPORTED_SASL_MECHANISM for a mechanism other than SCRAM-SHA-256/512,
// UNACCEPTABLE_CREDENTIAL for an empty name, iterations outside
// 4096..16384 or an empty salt. A user with any refused item has none of
// its items applied.
//
// With an authorizer it needs ALTER on the cluster (authz_admin.go);
// without one any authenticated user may change credentials.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
	"github.com/spool-mq/spool/internal/controller"
)

func handleAlterUserScramCredentials(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.AlterUserSCRAMCredentialsRequest) *kmsg.AlterUserSCRAMCredentialsResponse {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var order []string            // users in order of first appearance
	userErr := map[string]error{} // the first refusal of each user's items
	pairs := map[[2]string]int{}
	note := func(user string, mech int8) {
		if _, ok := userErr[user]; !ok {
			order = append(order, user)
			userErr[user] = nil
		}
		pairs[[2]string{user, fmt.Sprint(mech)}]++
	}
	for _, d := range req.Deletions {
		note(d.Name, d.Mechanism)
	}
	for _, u := range req.Upsertions {
		note(u.Name, u.Mechanism)
	}
	refuse := func(user string, err error) {
		if userErr[user] == nil {
			userErr[user] = err
		}
	}
	for p, n := range pairs {
		if n > 1 {
			refuse(p[0], newRequestError(kerr.DuplicateResource, "a user credential cannot be altered twice in the same request"))
		}
	}

	img := h.image()
	var dels []controller.ScramDeletion
	var ups []controller.ScramUpsert
	var delUser, upUser []string
	for _, d := range req.Deletions {
		m, err := scramMechanism(d.Name, d.Mechanism)
		if err == nil {
			if _, ok := img.ScramCredential(d.Name, m); !ok {
				err = fmt.Errorf("%w: attempt to delete a user credential that does not exist", controller.ErrScramCredentialNotFound)
			}
		}
		if err != nil {
			refuse(d.Name, err)
			continue
		}
		dels, delUser = append(dels, controller.ScramDeletion{User: d.Name, Mechanism: m}), append(delUser, d.Name)
	}
	for _, u := range req.Upsertions {
		m, err := scramMechanism(u.Name, u.Mechanism)
		var cred auth.Credential
		if err == nil {
			if cred, err = auth.CredentialFromSalted(m, int(u.Iterations), u.Salt, u.SaltedPassword); err != nil {
				err = fmt.Errorf("%w: %w", controller.ErrUnacceptableCredential, err)
			}
		}
		if err == nil {
			err = controller.CheckScramCredential(u.Name, cred)
		}
		if err != nil {
			refuse(u.Name, err)
			continue
		}
		ups, upUser = append(ups, controller.ScramUpsert{User: u.Name, Credential: cred}), append(upUser, u.Name)
	}

	// Send only the items of users with nothing refused.
	var sendDels []controller.ScramDeletion
	var sendUps []controller.ScramUpsert
	var sentDel, sentUp []string
	for i, d := range dels {
		if userErr[delUser[i]] == nil {
			sendDels, sentDel = append(sendDels, d), append(sentDel, delUser[i])
		}
	}
	for i, u := range ups {
		if userErr[upUser[i]] == nil {
			sendUps, sentUp = append(sendUps, u), append(sentUp, upUser[i])
		}
	}
	if len(sendDels)+len(sendUps) > 0 {
		delErrs, upErrs := h.Controller.AlterScramCredentials(ctx, sendDels, sendUps)
		for i, err := range delErrs {
			if err != nil {
				refuse(sentDel[i], err)
			}
		}
		for i, err := range upErrs {
			if err != nil {
				refuse(sentUp[i], err)
			}
		}
	}
	for _, user := range order {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = user
		if err := userErr[user]; err != nil {
			r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}

// scramMechanism checks an item's user name and mechanism code.
func scramMechanism(user string, code int8) (auth.Mechanism, error) {
	if user == "" {
		return "", fmt.Errorf("%w: username must not be empty", controller.ErrUnacceptableCredential)
	}
	m, ok := auth.MechanismForKafkaType(code)
	if !ok {
		return "", fmt.Errorf("%w: unknown SCRAM mechanism %d", controller.ErrUnsupportedScramMechanism, code)
	}
	return m, nil
}
