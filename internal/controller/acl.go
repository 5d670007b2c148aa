package controller

// ACLs live in the metadata log like the SCRAM credentials (scram.go), so
// every broker authorizes against its own image and they survive restarts
// and snapshots. The image holds them as an auth.ACLSet, indexed once per
// change rather than per request.

import (
	"context"
	"errors"
	"fmt"

	"github.com/spool-mq/spool/internal/auth"
)

// ErrTooManyACLs means a creation would take the cluster past
// authorizer.max.acls; the bound keeps the image, the snapshots and every
// DescribeAcls answer small.
var ErrTooManyACLs = errors.New("too many ACLs")

const (
	cmdCreateACLs commandType = "create_acls"
	cmdDeleteACLs commandType = "delete_acls"
)

// createACLsCmd stores ACLs; one result per ACL. Max is the cap in force
// where the request was accepted, carried in the command so that every
// replica applies the same bound.
type createACLsCmd struct {
	ACLs []auth.ACL `json:"acls"`
	Max  int        `json:"max,omitempty"`
}

// deleteACLsCmd removes exact bindings (the requester resolved its
// filters against its image); absent ones are ignored.
type deleteACLsCmd struct {
	ACLs []auth.ACL `json:"acls"`
}

func (*createACLsCmd) kind() commandType { return cmdCreateACLs }
func (*deleteACLsCmd) kind() commandType { return cmdDeleteACLs }

func (c *createACLsCmd) apply(b *builder, _ uint64) applyResult {
	errs := make([]error, len(c.ACLs))
	acls := b.next.acls.All()
	var added []auth.ACL
	for i, a := range c.ACLs {
		if err := a.Validate(); err != nil {
			errs[i] = err
			continue
		}
		if b.next.acls.Contains(a) {
			continue // already there: creating it again succeeds, as in Kafka
		}
		if c.Max > 0 && len(acls)+len(added)+1 > c.Max {
			errs[i] = fmt.Errorf("%w: at most %d (authorizer.max.acls)", ErrTooManyACLs, c.Max)
			continue
		}
		added = append(added, a)
	}
	if len(added) > 0 {
		b.next.acls = auth.NewACLSet(append(append([]auth.ACL(nil), acls...), added...))
	}
	return applyResult{Errs: errs}
}

func (c *deleteACLsCmd) apply(b *builder, _ uint64) applyResult {
	gone := auth.NewACLSet(c.ACLs)
	var keep []auth.ACL
	for _, a := range b.next.acls.All() {
		if !gone.Contains(a) {
			keep = append(keep, a)
		}
	}
	if len(keep) != b.next.acls.Len() {
		b.next.acls = aclSetOrNil(keep)
	}
	return applyResult{}
}

func aclSetOrNil(acls []auth.ACL) *auth.ACLSet {
	if len(acls) == 0 {
		return nil // as in a fresh or restored image
	}
	return auth.NewACLSet(acls)
}

// ACLs is the image's ACL set (nil when there are none; its methods
// accept nil).
func (img *Image) ACLs() *auth.ACLSet { return img.acls }

// CreateACLs commits acls as one log entry, forwarded to the Raft leader
// like every metadata write; one error per ACL (nil: stored). maxACLs > 0
// bounds the total.
func (c *Controller) CreateACLs(ctx context.Context, acls []auth.ACL, maxACLs int) []error {
	errs := make([]error, len(acls))
	if c.isClosed() {
		return fill(errs, ErrClosed)
	}
	cmd := &createACLsCmd{Max: maxACLs}
	var pos []int
	for i, a := range acls {
		if err := a.Validate(); err != nil {
			errs[i] = err
			continue
		}
		cmd.ACLs = append(cmd.ACLs, a)
		pos = append(pos, i)
	}
	if len(pos) == 0 {
		return errs
	}
	res, err := c.submit(ctx, cmd, false)
	for j, i := range pos {
		errs[i] = itemResult(res, err, j)
	}
	return errs
}

// DeleteACLs resolves filters against the current image and removes what
// they match in one log entry. It returns the ACLs each filter matched.
func (c *Controller) DeleteACLs(ctx context.Context, filters []auth.ACLFilter) ([][]auth.ACL, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	img := c.Image()
	matched := make([][]auth.ACL, len(filters))
	cmd := &deleteACLsCmd{}
	for i, f := range filters {
		matched[i] = img.acls.Filter(f)
		cmd.ACLs = append(cmd.ACLs, matched[i]...)
	}
	if len(cmd.ACLs) == 0 {
		return matched, nil
	}
	if _, err := c.submit(ctx, cmd, false); err != nil {
		return nil, err
	}
	return matched, nil
}
