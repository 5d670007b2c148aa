package auth

// ACLs (Kafka's authorization, KIP-11 and KIP-290) as the controller keeps
// them in the metadata image, and the evaluation of a request against them.
// Everything here is pure: the handlers pass the image's ACLSet, the
// principal and the client's IP, and get a yes or no.
//
// The enumerations are kmsg's, which carry Kafka's wire values, so ACLs
// go from requests to the log and back without a translation table.

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterResourceName is the only name a CLUSTER resource has (Kafka's
// "kafka-cluster").
const ClusterResourceName = "kafka-cluster"

// Wildcard matches every resource name (LITERAL pattern), every principal
// ("User:*") and every host.
const Wildcard = "*"

// ErrInvalidACL means a binding cannot be stored: an unknown or filter-only
// type, a PREFIXED pattern with the wildcard name, an empty name, a
// principal not of the form User:<name> (INVALID_REQUEST).
var ErrInvalidACL = errors.New("invalid ACL binding")

// ACL is one binding: Permission for Principal from Host to perform
// Operation on the resources ResourceName and PatternType select.
type ACL struct {
	ResourceType kmsg.ACLResourceType        `json:"resource_type"`
	ResourceName string                      `json:"resource_name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

func (a ACL) String() string {
	return fmt.Sprintf("%s %s from %s %s on %s:%s:%s", a.Permission, a.Principal, a.Host, a.Operation, a.ResourceType, a.PatternType, a.ResourceName)
}

// Compare orders ACLs so that equal sets list identically (snapshots,
// DescribeAcls).
func (a ACL) Compare(b ACL) int {
	if c := int(a.ResourceType) - int(b.ResourceType); c != 0 {
		return c
	}
	if c := strings.Compare(a.ResourceName, b.ResourceName); c != 0 {
		return c
	}
	if c := int(a.PatternType) - int(b.PatternType); c != 0 {
		return c
	}
	if c := strings.Compare(a.Principal, b.Principal); c != 0 {
		return c
	}
	if c := strings.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	if c := int(a.Operation) - int(b.Operation); c != 0 {
		return c
	}
	return int(a.Permission) - int(b.Permission)
}

// Validate applies Kafka's rules for a binding that is to be stored.
func (a ACL) Validate() error {
	switch a.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeTransactionalId:
	case kmsg.ACLResourceTypeCluster:
		if a.ResourceName != ClusterResourceName {
			return fmt.Errorf("%w: the cluster resource is named %q, not %q", ErrInvalidACL, ClusterResourceName, a.ResourceName)
		}
	default:
		return fmt.Errorf("%w: resource type %s", ErrInvalidACL, a.ResourceType)
	}
	switch a.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
	case kmsg.ACLResourcePatternTypePrefixed:
		if a.ResourceName == Wildcard {
			return fmt.Errorf("%w: a PREFIXED pattern cannot be the wildcard %q", ErrInvalidACL, Wildcard)
		}
	default:
		return fmt.Errorf("%w: pattern type %s", ErrInvalidACL, a.PatternType)
	}
	if a.ResourceName == "" {
		return fmt.Errorf("%w: empty resource name", ErrInvalidACL)
	}
	if name, ok := strings.CutPrefix(a.Principal, "User:"); !ok || name == "" {
		return fmt.Errorf("%w: principal %q is not User:<name>", ErrInvalidACL, a.Principal)
	}
	if a.Host == "" {
		return fmt.Errorf("%w: empty host (use %q for any)", ErrInvalidACL, Wildcard)
	}
	if a.Operation < kmsg.ACLOperationAll || a.Operation > kmsg.ACLOperationIdempotentWrite {
		return fmt.Errorf("%w: operation %s", ErrInvalidACL, a.Operation)
	}
	if a.Permission != kmsg.ACLPermissionTypeAllow && a.Permission != kmsg.ACLPermissionTypeDeny {
		return fmt.Errorf("%w: permission %s", ErrInvalidACL, a.Permission)
	}
	return nil
}

// ACLFilter selects ACLs for DescribeAcls and DeleteAcls. Nil strings and
// the ANY values match everything; PatternType MATCH selects the bindings
// that would apply to ResourceName (literal, wildcard and prefixes).
type ACLFilter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// Validate refuses filters Kafka refuses: unknown values, and MATCH
// without a resource name.
func (f ACLFilter) Validate() error {
	if f.ResourceType < kmsg.ACLResourceTypeAny || f.ResourceType > kmsg.ACLResourceTypeDelegationToken {
		return fmt.Errorf("%w: filter resource type %s", ErrInvalidACL, f.ResourceType)
	}
	if f.PatternType < kmsg.ACLResourcePatternTypeAny || f.PatternType > kmsg.ACLResourcePatternTypePrefixed {
		return fmt.Errorf("%w: filter pattern type %s", ErrInvalidACL, f.PatternType)
	}
	if f.Operation < kmsg.ACLOperationAny || f.Operation > kmsg.ACLOperationDescribeTokens {
		return fmt.Errorf("%w: filter operation %s", ErrInvalidACL, f.Operation)
	}
	if f.Permission < kmsg.ACLPermissionTypeAny || f.Permission > kmsg.ACLPermissionTypeAllow {
		return fmt.Errorf("%w: filter permission %s", ErrInvalidACL, f.Permission)
	}
	return nil
}

// Matches reports whether a is selected by f.
func (f ACLFilter) Matches(a ACL) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != a.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		if f.ResourceName != nil && *f.ResourceName != a.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName != nil && !patternMatches(a, *f.ResourceName) {
			return false
		}
	default:
		if f.PatternType != a.PatternType || (f.ResourceName != nil && *f.ResourceName != a.ResourceName) {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != a.Operation {
		return false
	}
	return f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == a.Permission
}

// patternMatches reports whether a's pattern selects the resource name.
func patternMatches(a ACL, name string) bool {
	if a.PatternType == kmsg.ACLResourcePatternTypePrefixed {
		return strings.HasPrefix(name, a.ResourceName)
	}
	return a.ResourceName == name || a.ResourceName == Wildcard
}

// ACLSet is an immutable set of ACLs indexed for evaluation: by resource
// type, then literal name (the wildcard is one more literal name) and
// prefix, so a check costs a few map lookups however many ACLs there are.
type ACLSet struct {
	all []ACL // sorted by Compare, no duplicates
	by  map[kmsg.ACLResourceType]*typeIndex
}

type typeIndex struct {
	literal  map[string][]ACL
	prefixed map[string][]ACL
	// maxPrefix is the longest prefix, bounding the lookups per check.
	maxPrefix int
}

// NewACLSet indexes acls; duplicates collapse.
func NewACLSet(acls []ACL) *ACLSet {
	all := slices.Clone(acls)
	slices.SortFunc(all, ACL.Compare)
	all = slices.Compact(all)
	s := &ACLSet{all: all, by: map[kmsg.ACLResourceType]*typeIndex{}}
	for _, a := range all {
		ti := s.by[a.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string][]ACL{}, prefixed: map[string][]ACL{}}
			s.by[a.ResourceType] = ti
		}
		if a.PatternType == kmsg.ACLResourcePatternTypePrefixed {
			ti.prefixed[a.ResourceName] = append(ti.prefixed[a.ResourceName], a)
			ti.maxPrefix = max(ti.maxPrefix, len(a.ResourceName))
		} else {
			ti.literal[a.ResourceName] = append(ti.literal[a.ResourceName], a)
		}
	}
	return s
}

// Len is the number of ACLs.
func (s *ACLSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.all)
}

// All lists the ACLs in Compare order; the slice must not be modified.
func (s *ACLSet) All() []ACL {
	if s == nil {
		return nil
	}
	return s.all
}

// Contains reports whether a is in the set.
func (s *ACLSet) Contains(a ACL) bool {
	if s == nil {
		return false
	}
	_, ok := slices.BinarySearchFunc(s.all, a, ACL.Compare)
	return ok
}

// Filter lists the ACLs f matches.
func (s *ACLSet) Filter(f ACLFilter) []ACL {
	var out []ACL
	for _, a := range s.All() {
		if f.Matches(a) {
			out = append(out, a)
		}
	}
	return out
}

// Request is one authorization question.
type Request struct {
	Principal string
	// Host is the client's IP address as text.
	Host         string
	Operation    kmsg.ACLOperation
	ResourceType kmsg.ACLResourceType
	ResourceName string
}

// Authorizer is Kafka's StandardAuthorizer evaluation over an ACLSet.
// It holds only the broker's settings; the ACLs come with each call, from
// the metadata image the request is answered with.
type Authorizer struct {
	superUsers map[string]bool
	// allowIfNoACL (allow.everyone.if.no.acl.found) allows a request on a
	// resource no ACL names at all.
	allowIfNoACL bool
}

// NewAuthorizer builds an authorizer; superUsers is Kafka's super.users,
// principals separated by semicolons.
func NewAuthorizer(superUsers string, allowIfNoACL bool) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowIfNoACL: allowIfNoACL}
	for _, p := range strings.Split(superUsers, ";") {
		if p = strings.TrimSpace(p); p != "" {
			a.superUsers[p] = true
		}
	}
	return a
}

// IsSuperUser reports whether principal bypasses the ACLs.
func (az *Authorizer) IsSuperUser(principal string) bool { return az.superUsers[principal] }

// Authorize answers r against s: super users are allowed everything; a
// matching DENY beats any ALLOW; ALL matches every operation; an ALLOW of
// READ, WRITE, DELETE or ALTER implies DESCRIBE, and of ALTER_CONFIGS
// implies DESCRIBE_CONFIGS; with no ACL on the resource at all, the answer
// is allow.everyone.if.no.acl.found.
func (az *Authorizer) Authorize(s *ACLSet, r Request) bool {
	if az.superUsers[r.Principal] {
		return true
	}
	var ti *typeIndex
	if s != nil {
		ti = s.by[r.ResourceType]
	}
	if ti == nil {
		return az.allowIfNoACL
	}
	found, allowed := false, false
	check := func(acls []ACL) bool { // false: denied
		for i := range acls {
			a := &acls[i]
			found = true
			if (a.Principal != r.Principal && a.Principal != "User:*") || (a.Host != r.Host && a.Host != Wildcard) {
				continue
			}
			if a.Permission == kmsg.ACLPermissionTypeDeny {
				if a.Operation == kmsg.ACLOperationAll || a.Operation == r.Operation {
					return false
				}
				continue
			}
			if !allowed && allows(a.Operation, r.Operation) {
				allowed = true
			}
		}
		return true
	}
	if !check(ti.literal[r.ResourceName]) || !check(ti.literal[Wildcard]) {
		return false
	}
	for n := min(len(r.ResourceName), ti.maxPrefix); n > 0 && len(ti.prefixed) > 0; n-- {
		if !check(ti.prefixed[r.ResourceName[:n]]) {
			return false
		}
	}
	if !found {
		return az.allowIfNoACL
	}
	return allowed
}

// AuthorizeAny reports whether r.Principal may perform r.Operation on some
// resource of r.ResourceType (r.ResourceName is ignored): Kafka's
// authorizeByResourceType, which InitProducerId uses for an idempotent
// producer holding WRITE on any topic. Simplification: an ALLOW counts
// unless a DENY of the same principal covers every name (literal wildcard).
func (az *Authorizer) AuthorizeAny(s *ACLSet, r Request) bool {
	if az.superUsers[r.Principal] {
		return true
	}
	if s == nil || s.by[r.ResourceType] == nil {
		return az.allowIfNoACL
	}
	ti := s.by[r.ResourceType]
	for _, a := range ti.literal[Wildcard] {
		if a.Permission == kmsg.ACLPermissionTypeDeny && (a.Principal == r.Principal || a.Principal == "User:*") &&
			(a.Host == r.Host || a.Host == Wildcard) && (a.Operation == kmsg.ACLOperationAll || a.Operation == r.Operation) {
			return false
		}
	}
	for _, a := range s.all {
		if a.ResourceType == r.ResourceType && a.Permission == kmsg.ACLPermissionTypeAllow &&
			(a.Principal == r.Principal || a.Principal == "User:*") && (a.Host == r.Host || a.Host == Wildcard) &&
			allows(a.Operation, r.Operation) {
			return true
		}
	}
	return false
}

// allows reports whether an ALLOW of granted permits op.
func allows(granted, op kmsg.ACLOperation) bool {
	if granted == op || granted == kmsg.ACLOperationAll {
		return true
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch granted {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// PrincipalOf is who a connection is authorized as: the SASL principal
// once authenticated, else the verified TLS certificate's subject, else
// User:ANONYMOUS.
func PrincipalOf(saslPrincipal, tlsSubject string) string {
	if saslPrincipal != "" && saslPrincipal != AnonymousPrincipal {
		return saslPrincipal
	}
	if tlsSubject != "" {
		return tlsSubject
	}
	return AnonymousPrincipal
}
