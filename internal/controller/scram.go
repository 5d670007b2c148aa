package controller

// SCRAM credentials (KIP-554) live in the metadata log, so every broker can
// verify a client against its own image and they survive restarts with the
// rest of the metadata. Only salted credentials are stored (salt,
// iterations, StoredKey, ServerKey), never a password: the image, the log
// and the snapshots do not hold anything a client could log in with.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/spool-mq/spool/internal/auth"
)

// Errors of the credential commands.
var (
	// ErrScramCredentialNotFound means a deletion named a user and
	// mechanism with no stored credential (RESOURCE_NOT_FOUND).
	ErrScramCredentialNotFound = errors.New("SCRAM credential does not exist")
	// ErrUnsupportedScramMechanism means a credential names a mechanism
	// other than SCRAM-SHA-256 and SCRAM-SHA-512
	// (UNSUPPORTED_SASL_MECHANISM).
	ErrUnsupportedScramMechanism = errors.New("unsupported SCRAM mechanism")
	// ErrUnacceptableCredential means a credential is malformed: no user
	// name, iterations outside Kafka's bounds, no salt, keys of the wrong
	// length (UNACCEPTABLE_CREDENTIAL).
	ErrUnacceptableCredential = errors.New("unacceptable SCRAM credential")
)

const cmdAlterScram commandType = "alter_scram_credentials"

// ScramUpsert stores (or replaces) one user's credential for its mechanism.
type ScramUpsert struct {
	User       string
	Credential auth.Credential
}

// ScramDeletion removes one user's credential for one mechanism.
type ScramDeletion struct {
	User      string
	Mechanism auth.Mechanism
}

// alterScramCmd applies deletions, then upserts; the result has one error
// per item in that order.
type alterScramCmd struct {
	Deletions []scramDeletion `json:"deletions,omitempty"`
	Upserts   []scramUpsert   `json:"upserts,omitempty"`
}

type scramDeletion struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
}

type scramUpsert struct {
	User string `json:"user"`
	scramCredential
}

// scramCredential is auth.Credential as written in the log and snapshots.
type scramCredential struct {
	Mechanism  string `json:"mechanism"`
	Iterations int    `json:"iterations"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

func (*alterScramCmd) kind() commandType { return cmdAlterScram }

func toWire(c auth.Credential) scramCredential {
	return scramCredential{Mechanism: string(c.Mechanism), Iterations: c.Iterations,
		Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey}
}

func (c scramCredential) credential() auth.Credential {
	return auth.Credential{Mechanism: auth.Mechanism(c.Mechanism), Iterations: c.Iterations,
		Salt: slices.Clone(c.Salt), StoredKey: slices.Clone(c.StoredKey), ServerKey: slices.Clone(c.ServerKey)}
}

// CheckScramMechanism checks that m can hold stored credentials.
func CheckScramMechanism(m auth.Mechanism) error {
	if !m.IsScram() {
		return fmt.Errorf("%w: %q", ErrUnsupportedScramMechanism, m)
	}
	return nil
}

// CheckScramCredential applies Kafka's rules to a credential before it is
// stored (ScramControlManager): a user name, a SCRAM mechanism, iterations
// within [auth.MinIterations, auth.MaxIterations], a salt, and keys as long
// as the mechanism's hash.
func CheckScramCredential(user string, c auth.Credential) error {
	if user == "" {
		return fmt.Errorf("%w: user name must not be empty", ErrUnacceptableCredential)
	}
	if err := CheckScramMechanism(c.Mechanism); err != nil {
		return err
	}
	switch {
	case c.Iterations < auth.MinIterations:
		return fmt.Errorf("%w: too few iterations (%d, at least %d)", ErrUnacceptableCredential, c.Iterations, auth.MinIterations)
	case c.Iterations > auth.MaxIterations:
		return fmt.Errorf("%w: too many iterations (%d, at most %d)", ErrUnacceptableCredential, c.Iterations, auth.MaxIterations)
	case len(c.Salt) == 0:
		return fmt.Errorf("%w: empty salt", ErrUnacceptableCredential)
	case len(c.StoredKey) != c.Mechanism.KeyLen() || len(c.ServerKey) != c.Mechanism.KeyLen():
		return fmt.Errorf("%w: keys must be %d bytes for %s", ErrUnacceptableCredential, c.Mechanism.KeyLen(), c.Mechanism)
	}
	return nil
}

func (c *alterScramCmd) apply(b *builder, _ uint64) applyResult {
	errs := make([]error, 0, len(c.Deletions)+len(c.Upserts))
	for _, d := range c.Deletions {
		if _, ok := b.next.scram[d.User][auth.Mechanism(d.Mechanism)]; !ok {
			errs = append(errs, fmt.Errorf("%w: user %q has no %s credential", ErrScramCredentialNotFound, d.User, d.Mechanism))
			continue
		}
		b.setScram(d.User, auth.Mechanism(d.Mechanism), nil)
		errs = append(errs, nil)
	}
	for _, u := range c.Upserts {
		cred := u.credential()
		if err := CheckScramCredential(u.User, cred); err != nil {
			errs = append(errs, err)
			continue
		}
		b.setScram(u.User, cred.Mechanism, &cred)
		errs = append(errs, nil)
	}
	return applyResult{Errs: errs}
}

// setScram stores (c != nil) or removes a user's credential, copying the
// maps it changes so published images stay untouched.
func (b *builder) setScram(user string, m auth.Mechanism, c *auth.Credential) {
	if !b.scramCopied {
		b.next.scram = maps.Clone(b.next.scram)
		if b.next.scram == nil {
			b.next.scram = map[string]map[auth.Mechanism]auth.Credential{}
		}
		b.scramCopied = true
	}
	creds := maps.Clone(b.next.scram[user])
	if c != nil {
		if creds == nil {
			creds = map[auth.Mechanism]auth.Credential{}
		}
		creds[m] = *c
	} else {
		delete(creds, m)
	}
	if len(creds) == 0 {
		delete(b.next.scram, user)
		return
	}
	b.next.scram[user] = creds
}

// ScramCredential is user's stored credential for m. The byte slices are
// shared with the image and must not be modified.
func (img *Image) ScramCredential(user string, m auth.Mechanism) (auth.Credential, bool) {
	c, ok := img.scram[user][m]
	return c, ok
}

// ScramUsers lists the users with at least one credential, sorted.
func (img *Image) ScramUsers() []string { return slices.Sorted(maps.Keys(img.scram)) }

// ScramCredentials lists user's credentials ordered by mechanism.
func (img *Image) ScramCredentials(user string) []auth.Credential {
	var out []auth.Credential
	for _, m := range slices.Sorted(maps.Keys(img.scram[user])) {
		out = append(out, img.scram[user][m])
	}
	return out
}

// AlterScramCredentials commits deletions and upserts as one log entry,
// forwarded to the Raft leader like every metadata write. It returns one
// error per deletion and per upsert (nil: applied). Each item is accepted
// or refused on its own; items that fail the checks here are not sent.
func (c *Controller) AlterScramCredentials(ctx context.Context, deletions []ScramDeletion, upserts []ScramUpsert) (delErrs, upErrs []error) {
	delErrs, upErrs = make([]error, len(deletions)), make([]error, len(upserts))
	if c.isClosed() {
		return fill(delErrs, ErrClosed), fill(upErrs, ErrClosed)
	}
	cmd := &alterScramCmd{}
	var pos []*error // where each command item's result goes
	for i, d := range deletions {
		if err := CheckScramMechanism(d.Mechanism); err != nil {
			delErrs[i] = err
			continue
		}
		cmd.Deletions = append(cmd.Deletions, scramDeletion{User: d.User, Mechanism: string(d.Mechanism)})
		pos = append(pos, &delErrs[i])
	}
	for i, u := range upserts {
		if err := CheckScramCredential(u.User, u.Credential); err != nil {
			upErrs[i] = err
			continue
		}
		cmd.Upserts = append(cmd.Upserts, scramUpsert{User: u.User, scramCredential: toWire(u.Credential)})
		pos = append(pos, &upErrs[i])
	}
	if len(pos) == 0 {
		return delErrs, upErrs
	}
	res, err := c.submit(ctx, cmd, false)
	for j, p := range pos {
		*p = itemResult(res, err, j)
	}
	return delErrs, upErrs
}

// snapshotUser is one user's credentials in a snapshot.
type snapshotUser struct {
	Name        string            `json:"name"`
	Credentials []scramCredential `json:"credentials"`
}

func scramSnapshot(img *Image) []snapshotUser {
	var out []snapshotUser
	for _, name := range img.ScramUsers() {
		u := snapshotUser{Name: name}
		for _, c := range img.ScramCredentials(name) {
			u.Credentials = append(u.Credentials, toWire(c))
		}
		out = append(out, u)
	}
	return out
}

func (b *builder) restoreScram(users []snapshotUser) {
	for _, u := range users {
		for _, c := range u.Credentials {
			cred := c.credential()
			b.setScram(u.Name, cred.Mechanism, &cred)
		}
	}
}
