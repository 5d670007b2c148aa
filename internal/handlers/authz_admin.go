package handlers

// Authorization rules of the config, ACL and credential APIs (see
// authz_rules.go).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configAllowed checks op on the ACL resource a config resource is guarded by:
// topics by their topic, brokers and broker loggers by the cluster.
func configAllowed(a *authz, op kmsg.ACLOperation, rt kmsg.ConfigResourceType, name string) (bool, int16) {
	if rt == kmsg.ConfigResourceTypeTopic {
		return a.topic(op, name), topicDenied
	}
	return a.cluster(op), clusterDenied
}

func ruleDescribeConfigs(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.DescribeConfigsRequest)
	codes := map[int]int16{}
	i := 0
	denied := split(&r.Resources, func(res *kmsg.DescribeConfigsRequestResource) bool {
		ok, code := configAllowed(a, opDescribeConfigs, res.ResourceType, res.ResourceName)
		if !ok {
			codes[i] = code
			i++
		}
		return ok
	})
	return finishing(denied, len(r.Resources), func(resp kmsg.Response, rs []kmsg.DescribeConfigsRequestResource) {
		dr := resp.(*kmsg.DescribeConfigsResponse)
		for j, res := range rs {
			out := kmsg.NewDescribeConfigsResponseResource()
			out.ResourceType, out.ResourceName, out.ErrorCode = res.ResourceType, res.ResourceName, codes[j]
			dr.Resources = append(dr.Resources, out)
		}
	})
}

func ruleAlterConfigs(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.AlterConfigsRequest)
	var codes []int16
	denied := split(&r.Resources, func(res *kmsg.AlterConfigsRequestResource) bool {
		ok, code := configAllowed(a, opAlterConfigs, res.ResourceType, res.ResourceName)
		if !ok {
			codes = append(codes, code)
		}
		return ok
	})
	return finishing(denied, len(r.Resources), func(resp kmsg.Response, rs []kmsg.AlterConfigsRequestResource) {
		ar := resp.(*kmsg.AlterConfigsResponse)
		for j, res := range rs {
			out := kmsg.NewAlterConfigsResponseResource()
			out.ResourceType, out.ResourceName, out.ErrorCode = res.ResourceType, res.ResourceName, codes[j]
			ar.Resources = append(ar.Resources, out)
		}
	})
}

func ruleIncrementalAlterConfigs(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.IncrementalAlterConfigsRequest)
	var codes []int16
	denied := split(&r.Resources, func(res *kmsg.IncrementalAlterConfigsRequestResource) bool {
		ok, code := configAllowed(a, opAlterConfigs, res.ResourceType, res.ResourceName)
		if !ok {
			codes = append(codes, code)
		}
		return ok
	})
	return finishing(denied, len(r.Resources), func(resp kmsg.Response, rs []kmsg.IncrementalAlterConfigsRequestResource) {
		ir := resp.(*kmsg.IncrementalAlterConfigsResponse)
		for j, res := range rs {
			out := kmsg.NewIncrementalAlterConfigsResponseResource()
			out.ResourceType, out.ResourceName, out.ErrorCode = res.ResourceType, res.ResourceName, codes[j]
			ir.Resources = append(ir.Resources, out)
		}
	})
}

// ruleCreateACLs and ruleDeleteACLs need ALTER on the cluster; their
// answers carry one error per item rather than a top-level one.
func ruleCreateACLs(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.CreateACLsRequest)
	if a.cluster(opAlter) {
		return nil, nil, false
	}
	resp := r.ResponseKind().(*kmsg.CreateACLsResponse)
	for range r.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode = clusterDenied
		resp.Results = append(resp.Results, res)
	}
	return resp, nil, false
}

func ruleDeleteACLs(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.DeleteACLsRequest)
	if a.cluster(opAlter) {
		return nil, nil, false
	}
	resp := r.ResponseKind().(*kmsg.DeleteACLsResponse)
	for range r.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode = clusterDenied
		resp.Results = append(resp.Results, res)
	}
	return resp, nil, false
}

func ruleAlterScram(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.AlterUserSCRAMCredentialsRequest)
	if a.cluster(opAlter) {
		return nil, nil, false
	}
	resp := r.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	add := func(user string) {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = user, clusterDenied
		resp.Results = append(resp.Results, res)
	}
	for _, d := range r.Deletions {
		add(d.Name)
	}
	for _, u := range r.Upsertions {
		add(u.Name)
	}
	return resp, nil, false
}
